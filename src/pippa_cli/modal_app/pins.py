"""The packages of the Modal image, pinned to exactly what pippa's tests run.

`scripts/test` installs the test environment with these as constraints, and a test checks
that the installed versions are these, so the GPU renders with the code the tests passed.
Run this file to print them as a pip constraints file.
"""

PINS = (
    "torch==2.13.0",
    "diffusers==0.42.1",
    "transformers==5.24.0",
    "accelerate==1.15.0",
    "sentencepiece==0.2.3",
    "safetensors==0.8.0",
    "tokenizers==0.23.3",
    "av==18.1.0",
    # diffusers needs Pillow but pins none; the container decodes request images with it.
    "pillow==13.0.0",
    "numpy==2.4.6",
    "huggingface_hub==2.4.0",
    "hf-xet==1.8.0",
    # --lora: diffusers loads LoRAs as peft adapters (needs peft >= 0.17).
    "peft==0.21.2",
)

if __name__ == "__main__":
    print("\n".join(PINS))
