"""2,000 mutated bundled checkpoints: each loads or is refused with a CheckpointError (no crash, no hang)."""

from bench.fuzz import BASE, check, mutate, run


def test_fuzz_checkpoint_loader_2000_cases():
    counts = run(2000)
    assert sum(counts.values()) >= 2000
    assert counts["refused"] > 500  # most mutations hit the header and must be refused


def test_unmutated_base_loads(tmp_path):
    assert check(BASE, tmp_path / "x.safetensors") == "loaded"
    assert check(mutate(BASE, [("truncate", 100, 0)]), tmp_path / "y.safetensors") == "refused"
