"""Tiny randomly initialised vision-language models built in code, for tests and demos.

``build_tiny_llava(path)`` writes a complete Hugging Face LLaVA checkpoint (model weights,
config, generation config, tokenizer, image processor, chat template) of about 650 KB:
a CLIP vision tower (2 layers, hidden 32, 56 px images, 14 px patches → 16 image tokens),
a Llama text model (2 layers, hidden 64) and a byte-level BPE tokenizer of ~400 tokens
trained here with ``tokenizers`` (``<image>`` added). Weights are random under a fixed
seed, so the answers are gibberish but the same on every build and every run — enough to
exercise loading, chat templates, image tokens, batching and streaming of a real model.

Needs ``torch``, ``transformers`` (5.x) and ``tokenizers``; they are imported inside the
function so this module imports without them. From the command line::

    python -m vlmhb.inference.tiny_models OUT_DIR

When the running interpreter has no torch (the project's core env), the command prepares
the transformers backend's model env (``ENV_PACKAGES``, pip, in the env cache of
``VLMHB_ENV_CACHE_DIR`` — the same venv an experiment with that env reuses) and builds
the model there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", IMAGE_TOKEN]
VOCAB_SIZE = 400
IMAGE_SIZE = 56
PATCH_SIZE = 14
SEED = 1234

# System turn, then each message as "ROLE: content"; images become <image> placeholders
# in the order they appear in the content list; the generation prompt is "ASSISTANT:".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] | upper }}: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

# Text the tokenizer is trained on (English and Russian document words, digits).
_CORPUS = [
    "Invoice number 12345 dated 2024-05-17. Total amount: 1 250.00 RUB.",
    "Passport series 4510 number 123456 issued to Ivanov Ivan Ivanovich.",
    "What is the date of the document? Answer with the value only.",
    "Счёт-фактура № 42 от 17 мая 2024 года. Итого к оплате: 1 250,00 руб.",
    "Паспорт гражданина Российской Федерации. Фамилия Иванов, имя Иван.",
    "Какая дата указана в документе? Ответь только значением поля.",
    "SYSTEM: You are a helpful assistant that reads documents.",
    "USER: Read the field. ASSISTANT: The answer is 0123456789.",
]


def _train_tokenizer() -> Any:
    """A byte-level BPE tokenizer of ``VOCAB_SIZE`` tokens (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer


def build_tiny_llava(path: str | Path, seed: int = SEED) -> Path:
    """Build the tiny LLaVA checkpoint into ``path`` (created) and return the path.

    The folder reloads with ``AutoModelForImageTextToText.from_pretrained(path)`` and
    ``AutoProcessor.from_pretrained(path)`` offline. The processor is saved with
    ``num_additional_image_tokens=1`` (the CLS token of CLIP): without it LLaVA fails with
    "Image features and image tokens do not match".
    """
    import torch
    import transformers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
    )
    vocab = len(tokenizer)
    # the PIL image processor: the default one wants torchvision, absent beside CPU torch
    image_processor_class = (
        getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    )
    image_processor = image_processor_class(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True,
        do_resize=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=IMAGE_SIZE,
            patch_size=PATCH_SIZE,
            projection_dim=32,
        ),
        text_config=LlamaConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=ids["<s>"],
            eos_token_id=ids["</s>"],
            pad_token_id=ids["<pad>"],
            tie_word_embeddings=False,
        ),
        image_token_index=ids[IMAGE_TOKEN],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.bos_token_id = ids["<s>"]
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vlmhb.inference.tiny_models OUT_DIR [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m vlmhb.inference.tiny_models",
        description="Build a tiny random LLaVA checkpoint (needs torch and transformers).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the checkpoint into")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        return _build_in_model_env(args.out_dir, args.seed)
    path = build_tiny_llava(args.out_dir, seed=args.seed)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(f"tiny LLaVA written to {path} ({size / 1024:.0f} KB)")
    return 0


def _build_in_model_env(out_dir: Path, seed: int) -> int:
    """Run this command again with the python of the transformers backend's model env."""
    from vlmhb.core.contracts import EnvSpec
    from vlmhb.core.envs.process import ProcessEnvManager
    from vlmhb.core.settings import Settings
    from vlmhb.inference.backends.transformers_backend import ENV_PACKAGES

    cache = Settings().env_cache_dir
    print(
        f"no torch here: preparing the model env {list(ENV_PACKAGES)} in {cache}", file=sys.stderr
    )
    env = EnvSpec(kind="process", installer="pip", packages=list(ENV_PACKAGES))
    python = ProcessEnvManager(cache).prepare(env).python
    command = [python, "-m", "vlmhb.inference.tiny_models", str(out_dir), "--seed", str(seed)]
    return subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode


if __name__ == "__main__":
    sys.exit(main())
