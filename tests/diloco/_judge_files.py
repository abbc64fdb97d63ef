"""Judge a tinylm round from checkpoint files (run as a child process by test_determinism).

``python -m tests.diloco._judge_files INPUTS OUT THREADS``: prints one JSON line with the
sha256 of the report and of the merged checkpoint, and the kernel path and torch CPU capability
the child ran with.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from magnet_market.bitnet import kernel
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.diloco.round import RoundConfig, run_round
from magnet_market.diloco.verify import Submission, VerifyRules
from magnet_market.tasks import TinyLMData

CONFIG = TransformerConfig(seq_len=64, d_model=64, n_layers=2, n_heads=2)
CONTRIBUTORS = 4  # the default trimmed mean drops one value per side


def write_round_inputs(folder: Path) -> Path:
    """A parent and four contributions near it, written once so every judge reads the same
    bytes (random draws themselves differ between SIMD levels); returns ``folder``."""
    torch.manual_seed(0)
    state = {f"model.{k}": v for k, v in build_model(CONFIG).state_dict().items()}
    Checkpoint(state, CONFIG, parent_cid="").save(folder / "parent.safetensors")
    for i in range(CONTRIBUTORS):
        g = torch.Generator().manual_seed(i + 1)
        moved = {k: v + 0.01 * torch.randn(v.shape, generator=g) for k, v in state.items()}
        Checkpoint(
            moved,
            CONFIG,
            step=10,
            parent_cid="bafyparent",
            metrics={"val_loss": 5.0},
            extra={"train": json.dumps({"batch_size": 8})},
        ).save(folder / f"sub{i}.safetensors")
    return folder


def main(inputs: Path, out: Path, threads: int) -> None:
    torch.set_num_threads(threads)
    subs = [
        Submission(f"bafysub{i}", f"0x{i}", inputs / f"sub{i}.safetensors")
        for i in range(CONTRIBUTORS)
    ]
    outcome = run_round(
        task_id=1,
        round_index=0,
        parent_path=inputs / "parent.safetensors",
        parent_cid="bafyparent",
        model_config=CONFIG,
        submissions=subs,
        evaluate=TinyLMData(seq_len=CONFIG.seq_len, eval_batches=2).evaluate,
        reward_wei=10**18,
        out=out / "merged.safetensors",
        config=RoundConfig(
            rules=VerifyRules(max_steps=10, claim_tolerance=1.0, regression_tolerance=1.0)
        ),
    )
    assert outcome.merged_path is not None, outcome.report.to_json()
    print(
        json.dumps(
            {
                "report": hashlib.sha256(outcome.report.to_json().encode()).hexdigest(),
                "merged": hashlib.sha256(outcome.merged_path.read_bytes()).hexdigest(),
                "accepted": sum(s.status == "accepted" for s in outcome.report.submissions),
                "kernel_path": kernel.resolve_path(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
