import numpy as np
import pytest
import torch

from latent_explorer.models import CheckpointError, ConfigError, TrainConfig, TrainingError, load, train

from .helpers import run, tiny_data, tiny_model


def test_progress_records_epochs_validation_and_previews(tmp_path):
    data = tiny_data(80)
    model = tiny_model("vae")
    recs = run(model, data, out=str(tmp_path / "v.safetensors"), epochs=3, batch_size=16, preview_every=1e-9)
    steps = [r for r in recs if r.event == "step"]
    epochs = [r for r in recs if r.event == "epoch"]
    assert len(epochs) == 3 and recs[-1].event == "done"
    assert steps[-1].total_steps == 3 * 5 and [r.step for r in steps] == list(range(1, 16))
    assert set(epochs[0].val) == {"loss", "recon", "kl", "mse"}
    assert all(r.samples_per_s > 0 and r.eta_s >= 0 for r in steps)
    assert steps[-1].eta_s == 0
    assert steps[0].preview.shape == (16 if len(data) >= 16 else 8, 1, 8, 8) or steps[0].preview.ndim == 4
    assert isinstance(steps[0].preview, np.ndarray)
    assert epochs[0].checkpoint and recs[-1].checkpoint
    meta = load(tmp_path / "v.safetensors").meta
    assert meta["training"]["status"] == "finished" and meta["training"]["epochs_done"] == 3
    assert len(meta["training"]["history"]) == 3 and meta["data"]["n_val"] == 8


def test_training_is_seeded():
    data = tiny_data()
    a, b = tiny_model("ae"), tiny_model("ae")
    run(a, data, epochs=2, seed=5)
    run(b, data, epochs=2, seed=5)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=1e-6, msg=k)


def test_stop_saves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "g.safetensors"
    model = tiny_model("gan")
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    recs = list(train(model, tiny_data(), TrainConfig(epochs=5, batch_size=8), out=str(out), should_stop=stop))
    assert recs[-1].event == "stopped" and recs[-1].step == 3 and recs[-1].checkpoint == str(out)
    loaded = load(out)
    assert loaded.meta["training"]["status"] == "stopped"
    torch.testing.assert_close(loaded.decode(torch.zeros(1, 4)), model.eval().decode(torch.zeros(1, 4)), rtol=0,
                               atol=1e-6)


def test_closing_the_generator_saves(tmp_path):
    out = tmp_path / "a.safetensors"
    gen = train(tiny_model("aae"), tiny_data(), TrainConfig(epochs=5, batch_size=8), out=str(out))
    for _ in range(4):
        next(gen)
    gen.close()
    assert load(out).meta["training"]["status"] == "stopped"


def test_divergence_stops_with_a_message_and_keeps_finite_weights(tmp_path):
    out = tmp_path / "d.safetensors"
    model = tiny_model("ae")
    with pytest.raises(TrainingError, match="diverged.*last good step.*lower learning rate"):
        for _ in train(model, tiny_data(), TrainConfig(epochs=20, batch_size=8, lr=1e5), out=str(out)):
            pass
    kept = load(out)  # the loader itself refuses NaN/Inf weights
    assert kept.meta["training"]["status"] == "diverged"
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_images_per_second_counts_the_short_last_batch(monkeypatch):
    import importlib

    # the module; ``models.training.train`` is also the function
    mt = importlib.import_module("latent_explorer.models.training.train")

    class Clock:  # every reading of the trainer's clock advances it by one second
        t = 0.0

        def perf_counter(self):
            self.t += 1.0
            return self.t

    monkeypatch.setattr(mt, "time", Clock())
    recs = run(tiny_model("ae"), tiny_data(64), epochs=2, batch_size=16)  # 58 training images: 16+16+16+10
    steps = [r for r in recs if r.event == "step"]
    assert [r.step for r in steps] == list(range(1, 9))
    # a step is timed by two readings, so each takes 1 s here: images per step, not the batch size
    assert recs[-1].samples_per_s == pytest.approx(2 * 58 / 8)
    assert steps[3].samples_per_s == pytest.approx(58 / 4)


@pytest.mark.parametrize("poison, msg", [
    ("loss", r"the loss became nan"),  # the loss itself
    ("grad", r"the gradient of the loss became (nan|inf)"),  # a finite loss whose gradient is not
    (None, None),
])
def test_a_guarded_step_changes_no_weight_when_the_loss_or_a_gradient_is_not_finite(poison, msg):
    from latent_explorer.models.base import DivergedError, adam, optimize

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    opt = adam(net.parameters(), 1e-2)
    before = [p.detach().clone() for p in net.parameters()]
    x = torch.randn(8, 4)
    out = net(x).pow(2).mean()
    if poison == "loss":
        out = out * float("nan")
    elif poison == "grad":  # sqrt at 0: a finite value with an infinite derivative
        out = out + torch.sqrt(net[0].weight[0, 0] * 0)
    if msg is None:
        optimize(out, opt, net.parameters())
        assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
        return
    assert torch.isfinite(out) == (poison != "loss")
    with pytest.raises(DivergedError, match=msg):
        optimize(out, opt, net.parameters())
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters()))
    assert not opt.state  # Adam's moments were never touched either


@pytest.mark.parametrize("cfg, msg", [
    (dict(epochs=0), "epochs"), (dict(lr=-1.0), "learning rate"), (dict(lr=float("nan")), "learning rate"),
    (dict(batch_size=0), "batch size"), (dict(batch_size=1000), "larger than the 58 training images"),
])
def test_nonsense_hyperparameters(cfg, msg):
    with pytest.raises(ConfigError, match=msg):
        list(train(tiny_model("ae"), tiny_data(), TrainConfig(**cfg)))


def test_wrong_data_shape_is_refused():
    with pytest.raises(ConfigError, match="expects"):
        list(train(tiny_model("ae"), tiny_data(shape=(1, 16, 16)), TrainConfig()))


# -- resume continues the run (models.training.optim_state) ------------------------------------------------------------
_RUN = ["train", "--model", "vae", "--data", "digits", "--batch-size", "64", "--record-n", "0", "--quiet"]
_NEW = ["--hidden", "32", "--latent-dim", "2"]  # a small VAE: 26 steps an epoch, seconds in all


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A 2-epoch run and the 4-epoch run it is the first half of (same seed)."""
    from latent_explorer.models.cli import main as cli

    folder = tmp_path_factory.mktemp("resume")
    assert cli([*_RUN, *_NEW, "--epochs", "4", "--out", str(folder / "four.safetensors")]) == 0
    assert cli([*_RUN, *_NEW, "--epochs", "2", "--out", str(folder / "two.safetensors")]) == 0
    return folder


def _history(path) -> list[dict]:
    return load(path).meta["training"]["history"]


def _resume(cli, capsys, ckpt, out) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = cli([*_RUN, "--epochs", "2", "--resume", str(ckpt), "--out", str(out)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_two_epochs_and_a_resume_for_two_more_are_the_four_epochs_in_one_go(two_epochs, tmp_path, capsys):
    """The optimizer's state, the step count and the random generators are kept beside the checkpoint
    (NAME.optim.safetensors), so a resumed run is the run it continues: its losses are those of epochs 3 and 4
    of the run made in one go (seeded, on the CPU)."""
    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.training.optim_state import sidecar_path

    two = two_epochs / "two.safetensors"
    assert sidecar_path(two).is_file() and load(two).meta["training"]["optimizer"]["file"] == "two.optim.safetensors"
    code, lines = _resume(cli, capsys, two, tmp_path / "more.safetensors")
    assert code == 0 and not any(line.startswith("note:") for line in lines), lines
    four, more = _history(two_epochs / "four.safetensors"), _history(tmp_path / "more.safetensors")
    assert len(more) == 2
    for whole, resumed in zip(four[2:], more):
        for part in ("train", "val"):
            assert resumed[part] == pytest.approx(whole[part], rel=1e-4), (part, whole, resumed)
    after = load(tmp_path / "more.safetensors").meta["training"]
    assert after["resumed_from"]["optimizer_state"] == "kept" and after["resumed_from"]["steps"] == 52


def test_a_resume_needs_only_the_checkpoint_and_a_run_without_one_names_what_it_lacks(two_epochs, tmp_path,
                                                                                     capsys):
    """``train --resume FILE`` reads the kind and the data from the checkpoint's header (asking for --model and
    --data again, then refusing --width, made users guess what was wanted); without --resume, both are needed."""
    from latent_explorer.models.cli import main as cli

    out = tmp_path / "more.safetensors"
    code = cli(["train", "--resume", str(two_epochs / "two.safetensors"), "--epochs", "1", "--batch-size", "64",
                "--record-n", "0", "--quiet", "--out", str(out)])
    assert code == 0 and load(out).kind == "vae" and load(out).meta["data"]["spec"] == "digits"
    capsys.readouterr()
    assert cli(["train", "--data", "digits", "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: train needs --model (or --resume FILE, to go on with a run)"], err
    assert not (tmp_path / "x.safetensors").exists()


def test_a_checkpoint_without_its_optimizer_state_resumes_afresh_and_says_so(two_epochs, tmp_path, capsys):
    """A checkpoint from before the state was kept goes on as it always did, with a fresh optimizer, and says
    so in one note line; its losses are then not those of the run in one go (what the kept state is for)."""
    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.io.checkpoint import save

    model = load(two_epochs / "two.safetensors")
    training = {k: v for k, v in model.meta["training"].items() if k != "optimizer"}
    old = tmp_path / "old.safetensors"
    save(model, old, data=model.meta["data"], training=training, class_names=model.meta["class_names"])
    code, lines = _resume(cli, capsys, old, tmp_path / "more.safetensors")
    notes = [line for line in lines if line.startswith("note:")]
    assert code == 0 and notes == ["note: old.safetensors was saved without its optimizer state (by an earlier "
                                   "version): the optimizer starts afresh"], lines
    assert load(tmp_path / "more.safetensors").meta["training"]["resumed_from"]["optimizer_state"] == "fresh"
    whole, fresh = _history(two_epochs / "four.safetensors")[2]["train"], _history(tmp_path / "more.safetensors")[0]
    assert fresh["train"] != pytest.approx(whole, rel=1e-4)


def test_an_optimizer_state_of_another_save_is_not_used_and_a_damaged_one_is_refused(two_epochs, tmp_path,
                                                                                    capsys):
    """The state beside a checkpoint is read bounded and typed: one of another save (its id) is left aside
    with a note; one whose tensors do not fit the model's optimizer is refused from its header, in one line."""
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.training.optim_state import sidecar_path

    ckpt = tmp_path / "m.safetensors"
    shutil.copy(two_epochs / "two.safetensors", ckpt)
    shutil.copy(sidecar_path(two_epochs / "four.safetensors"), sidecar_path(ckpt))  # another run's state
    code, lines = _resume(cli, capsys, ckpt, tmp_path / "a.safetensors")
    assert code == 0 and "note: m.optim.safetensors is the optimizer state of another save of m.safetensors: " \
                         "the optimizer starts afresh" in lines, lines
    shutil.copy(sidecar_path(two_epochs / "two.safetensors"), sidecar_path(ckpt))
    tensors = load_file(sidecar_path(ckpt))
    with safe_open(sidecar_path(ckpt), "pt") as f:
        meta = f.metadata()
    name = next(k for k in tensors if k.endswith("/exp_avg"))
    tensors[name] = torch.zeros(3, 3)  # a moment of another shape than its parameter's
    save_file(tensors, sidecar_path(ckpt), metadata=meta)
    code, lines = _resume(cli, capsys, ckpt, tmp_path / "b.safetensors")
    assert code == 2 and len(lines) == 1 and "m.optim.safetensors" in lines[0] and name in lines[0], lines
    assert "the model's optimizer keeps" in lines[0] and not (tmp_path / "b.safetensors").exists()


def test_a_runs_optimizer_state_is_never_replaced_by_a_model_nor_another_file_by_it(tmp_path):
    """As for run records: a model is never named like a run's optimizer state, nor saved beside a file of that
    name that is not one (the run would write its state over it), even with --force."""
    from latent_explorer.models.io.checkpoint import check_output

    with pytest.raises(CheckpointError, match="a name ending in .optim.safetensors is a run's optimizer state"):
        check_output(tmp_path / "m.optim.safetensors")
    (tmp_path / "n.optim.safetensors").write_bytes(b"notes")
    with pytest.raises(CheckpointError, match="is beside 'n.safetensors' but is not a run's optimizer state"):
        check_output(tmp_path / "n.safetensors", force=True)
    assert (tmp_path / "n.optim.safetensors").read_bytes() == b"notes"
