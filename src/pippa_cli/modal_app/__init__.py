"""pippa's deployable Modal app."""
