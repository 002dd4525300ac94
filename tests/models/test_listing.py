"""A checkpoint as the model list sees it from its header alone (issue S.1): the same facts a loaded model
gives, no tensor read, and the same refusals for a file that is not one."""

import shutil

import pytest

from latent_explorer.models import CheckpointError, load
from latent_explorer.models.io.checkpoint import BUNDLED_DIR
from latent_explorer.models.io.listing import model_files, read_facts


@pytest.mark.parametrize("name", ["digits-vae2d", "digits-ddpm", "mnist-cgan", "scenes-ldm"])
def test_the_header_says_what_the_loaded_model_says(name):
    path = BUNDLED_DIR / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"{name} is not bundled")
    facts = read_facts(path)
    model = load(path)
    assert facts.kind == model.kind and facts.spec is model.spec
    assert facts.image_shape == tuple(model.image_shape) and facts.latent_dim == model.latent_dim
    assert facts.conditioning == model.conditioning
    assert facts.parameters == sum(t.numel() for t in model.state_dict().values()) or model.kind == "latent-diffusion"
    for key in ("data", "class_names", "training", "kind", "format_version"):
        assert facts.meta[key] == model.meta[key]


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path):
    blob = (BUNDLED_DIR / "digits-ae.safetensors").read_bytes()
    (tmp_path / "half.safetensors").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "text.safetensors").write_text("hello")
    for name in ("half", "text"):
        with pytest.raises(CheckpointError) as e:
            read_facts(tmp_path / f"{name}.safetensors")
        assert f"{name}.safetensors" in str(e.value) and "\n" not in str(e.value)


def test_a_folder_lists_its_checkpoints_not_their_records(tmp_path):
    for name in ("b", "A", "c.record", "d.optim"):
        shutil.copy(BUNDLED_DIR / "digits-ae.safetensors", tmp_path / f"{name}.safetensors")
    (tmp_path / "sub").mkdir()
    shutil.copy(BUNDLED_DIR / "digits-ae.safetensors", tmp_path / "sub" / "e.safetensors")
    names = [f.name for f in model_files(tmp_path)]
    assert names[:2] == ["A.safetensors", "b.safetensors"] and "c.record.safetensors" not in names
    assert "e.safetensors" not in names
