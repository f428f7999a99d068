from pippa_cli.cli.app import main

main()
