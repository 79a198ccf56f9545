#!/usr/bin/env python3
"""Train a tiny, randomly initialised GPT-2 with the real Hugging Face Trainer on the CPU.

No downloads: the model is built from a config and the data are token sequences made here
(a few repeating patterns, so the loss really falls). Needs torch and transformers; it prints
exactly what a Trainer run prints (tqdm bar on stderr, `{'loss': …}` dicts on stdout), which is
what trainboard's end-to-end test captures.

    trainboard run --experiment hf-tiny -- python examples/train_hf_tiny.py --steps 40
"""
from __future__ import annotations

import argparse
import tempfile


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--logging-steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed

    set_seed(args.seed)
    vocab, seq_len = 64, 32
    config = GPT2Config(vocab_size=vocab, n_positions=seq_len, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)

    class Patterns(torch.utils.data.Dataset):
        """Sequences that repeat a short random motif: learnable, so the loss drops fast."""

        def __init__(self, n: int) -> None:
            g = torch.Generator().manual_seed(args.seed)
            self.items = []
            for _ in range(n):
                period = int(torch.randint(2, 6, (1,), generator=g))
                motif = torch.randint(1, vocab, (period,), generator=g)
                ids = motif.repeat(seq_len // period + 1)[:seq_len]
                self.items.append({"input_ids": ids, "labels": ids.clone()})

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int) -> dict:
            return self.items[i]

    with tempfile.TemporaryDirectory(prefix="hf-tiny-") as out:
        common = dict(
            output_dir=out, max_steps=args.steps, per_device_train_batch_size=8, learning_rate=args.lr,
            logging_steps=args.logging_steps, save_strategy="no", report_to="none", seed=args.seed,
            disable_tqdm=False, dataloader_num_workers=0,
        )
        try:
            training_args = TrainingArguments(use_cpu=True, **common)
        except TypeError:  # transformers < 4.34
            training_args = TrainingArguments(no_cuda=True, **common)
        Trainer(model=model, args=training_args, train_dataset=Patterns(512)).train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
