"""Faults of what a user hands over from Python (``latent_explorer.show``, issue P.2): each is one clear line
before any window opens; in the window, a decoder that fails later is a message, never the end of it."""

import numpy as np
import pytest
import torch
from torch import nn

import latent_explorer
from latent_explorer.models import ConfigError, DataError

IMAGES = torch.rand(40, 1, 8, 8)


class Decoder(nn.Module):
    def __init__(self, d=3, out=(1, 8, 8), scale=1.0, nan=False):
        super().__init__()
        self.lin, self.out, self.scale, self.nan = nn.Linear(d, int(np.prod(out))), out, scale, nan

    def forward(self, z):
        x = torch.sigmoid(self.lin(z)).view(-1, *self.out) * self.scale
        return x * float("nan") if self.nan else x


def encoder(d=3):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, d))


def _one_line(e) -> str:
    text = str(e.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_F131_a_decoder_whose_output_is_not_an_image_batch():
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(encoder=encoder(), decoder=Decoder(out=(10,)), data=IMAGES)
    assert _one_line(e) == ("the decoder returned a torch.float32 tensor of shape (2, 10), not images of shape "
                            "(2, 1, 8, 8) (N, C, H, W)")


def test_F132_a_decoder_that_returns_nan():
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(generator=Decoder(nan=True), latent_dim=3)
    assert _one_line(e) == "the decoder returned NaN or infinite values"


def test_F133_a_decoder_whose_images_are_in_another_range():
    with pytest.raises(ConfigError) as e:  # 0..255 from the decoder, while the data is in [0, 1]
        latent_explorer.wrap(encoder=encoder(), decoder=Decoder(scale=255.0), data=IMAGES)
    assert _one_line(e).startswith("the decoder's images span ") and \
        "far outside the image range 0 to 1: give image_range= as the decoder's" in str(e.value)


def test_F134_data_of_another_size_than_the_decoders_images():
    big = torch.rand(40, 1, 16, 16)
    with pytest.raises(ConfigError) as e:  # the encoder meets 16x16 images it was not made for
        latent_explorer.wrap(encoder=encoder(), decoder=Decoder(), data=big)
    assert _one_line(e).startswith("the encoder fails on the data's images, of shape (1, 16, 16): ")
    with pytest.raises(ConfigError) as e:  # a generator with data of another size
        latent_explorer.wrap(encoder=nn.Sequential(nn.Flatten(), nn.Linear(256, 3)), decoder=Decoder(), data=big)
    assert _one_line(e) == ("the decoder returned a torch.float32 tensor of shape (2, 1, 8, 8), not images of "
                            "shape (2, 1, 16, 16) (N, C, H, W)")


def test_F135_an_encoder_whose_codes_do_not_fit_the_decoder():
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(encoder=encoder(d=5), decoder=Decoder(d=3), data=IMAGES)
    assert _one_line(e).startswith("the decoder fails on codes of 5 numbers (the encoder's codes): ")
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(encoder=encoder(d=5), decoder=Decoder(d=5), data=IMAGES, latent_dim=3)
    assert _one_line(e) == "the encoder gives codes of 5 numbers, not latent_dim=3"


@pytest.mark.parametrize("data, says", [
    (np.zeros((40, 5), np.float32), "the images have shape (40, 5): expected (N, C, H, W)"),
    (np.full((4, 1, 8, 8), np.nan, np.float32), "the images hold NaN or infinite values"),
    (np.full((4, 1, 8, 8), 1000.0, np.float32), "the images span 1e+03 to 1e+03, none of [0, 1], [-1, 1] or "
                                                 "[0, 255]: give image_range=(low, high)"),
    (["a", "b"], "data must be a tensor, a numpy array or a torch Dataset, not list"),
])
def test_F136_data_that_is_not_images(data, says):
    with pytest.raises(DataError) as e:
        latent_explorer.wrap(encoder=encoder(), decoder=Decoder(), data=data)
    assert _one_line(e).startswith(says)


def test_F137_nothing_opens_for_a_bad_model_and_a_decoder_failing_later_is_a_message(make_window, qtbot):
    from PySide6.QtWidgets import QApplication

    from latent_explorer.main_window import MainWindow

    before = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    with pytest.raises(ConfigError):
        latent_explorer.show(encoder=encoder(d=5), decoder=Decoder(d=3), data=IMAGES, block=False)
    assert [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)] == before

    class Fragile(Decoder):  # fine at z = 0 (the check), NaN far from it
        def forward(self, z):
            x = super().forward(z)
            return x * float("nan") if z.abs().max() > 5 else x

    model, name = latent_explorer.wrap(encoder=encoder(), decoder=Fragile(), data=IMAGES)
    w = make_window(load_bundled=False)
    w.library.set_current(w.library.add_live(name, model))
    w.show_view("editor")
    qtbot.waitUntil(w.editor.is_ready, timeout=120000)
    w.latent.set_z(np.full(3, 9.0, np.float32))
    said = "decoding failed: the decoder returned NaN or infinite values"
    qtbot.waitUntil(lambda: said in w.statusBar().currentMessage(), timeout=120000)
    assert w.isVisible() and w.last_error is None
    w.latent.set_z(np.zeros(3, np.float32))  # and the editor goes on
    qtbot.waitUntil(w.editor.is_ready, timeout=120000)


def test_F138_a_denoiser_that_does_not_predict_the_noise_or_has_no_schedule():
    class Wrong(nn.Module):
        def forward(self, x, t):
            return x[:, :, :4]  # not x_t's shape

    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(denoiser=Wrong(), betas=torch.linspace(1e-4, 0.02, 50), image_shape=(1, 8, 8))
    assert _one_line(e) == ("the denoiser returned shape (1, 1, 4, 8) for x_t of shape (1, 1, 8, 8): it must predict "
                            "the noise ε, of x_t's shape")
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(denoiser=Wrong(), image_shape=(1, 8, 8))
    assert _one_line(e).startswith("give the denoiser's noise schedule: betas= (T numbers) or scheduler=")
    with pytest.raises(ConfigError) as e:
        latent_explorer.wrap(denoiser=Wrong(), betas=[0.5, 1.5], image_shape=(1, 8, 8))
    assert _one_line(e) == "betas must be 1 to 100,000 numbers between 0 and 1 (got 2)"


NETS = '''
import pathlib

import torch
from torch import nn

pathlib.Path(__file__).with_name("imported.txt").write_text("ran")


class Gen(nn.Module):
    def __init__(self, d=3):
        super().__init__()
        self.d = d
        self.lin = nn.Linear(d, 64)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)
'''


@pytest.fixture
def saved_gen(tmp_path, monkeypatch):
    """A generator of a user's package ``catnets`` saved with ``latent_explorer.save``; forgotten after."""
    import sys

    (tmp_path / "catnets").mkdir()
    (tmp_path / "catnets" / "__init__.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    from catnets import Gen

    path = latent_explorer.save(tmp_path / "gen", generator=Gen(), latent_dim=3)
    sys.modules.pop("catnets")
    (tmp_path / "catnets" / "imported.txt").unlink()
    yield path
    sys.modules.pop("catnets", None)


def test_F139_a_saved_model_that_names_python_code_opened_without_trust(saved_gen, make_window, qtbot):
    import sys

    w = make_window(load_bundled=False)
    asked = []
    w.library.confirm_code = lambda path, message: asked.append(message) and False  # the user says no
    w.open_path(str(saved_gen))
    qtbot.waitUntil(lambda: w.last_error is not None, timeout=60000)
    assert asked == [w.last_error] and w.last_error.startswith(
        "gen.safetensors names Python code to import: catnets:Gen (from ")
    assert "--trust-code" in w.last_error and "catnets" not in sys.modules
    assert not (saved_gen.parent / "catnets" / "imported.txt").exists()  # nothing of it ran
    assert w.library.entries == [] and w.isVisible()


def test_F140_a_saved_model_whose_class_changed_since(saved_gen):
    from latent_explorer.models.io.checkpoint import load

    nets = saved_gen.parent / "catnets" / "__init__.py"
    nets.write_text(nets.read_text().replace("nn.Linear(d, 64)", "nn.Linear(d, 32), nn.Linear(32, 64)")
                    .replace("self.lin = nn.Linear(d, 32), nn.Linear(32, 64)", "self.lin = nn.Linear(d + 1, 64)"))
    with pytest.raises(latent_explorer.models.CheckpointError) as e:
        load(saved_gen, trust_code=True)
    assert _one_line(e) == ("gen.safetensors: catnets:Gen's weight lin.weight is of shape [64, 3]; the class now "
                            "makes [64, 4] (has its code changed since the file was saved?)")


def test_F141_save_of_a_module_that_keeps_no_constructor_arguments(tmp_path):
    from tests.user_nets import Opaque

    with pytest.raises(ConfigError) as e:
        latent_explorer.save(tmp_path / "gen", generator=Opaque(3), latent_dim=3)
    assert _one_line(e) == ("Opaque() needs n, which the generator does not keep as self.n: pass "
                            "init={'generator': {'n': ...}}")
    with pytest.raises(ConfigError) as e:
        latent_explorer.save(tmp_path / "gen", generator=Opaque(3), latent_dim=3, init={"generator": {"n": 2}})
    assert _one_line(e) == ("Opaque(**{'n': 2}) does not rebuild the generator: its weight lin.weight differs; "
                            "pass init={'generator': {...}} with the arguments that built it")
    assert not (tmp_path / "gen.safetensors").exists()


def test_a_folder_with_a_model_saved_from_python_lists_it_by_name_unopened(saved_gen, make_window, qtbot):
    """Listing a folder reads each header once; a model whose header names code is listed by its name, not
    marked broken and not opened: its code is asked about only when it is chosen."""
    import shutil

    from latent_explorer.state import ASSETS

    shutil.copy(ASSETS / "digits-gan.safetensors", saved_gen.parent / "digits-gan.safetensors")
    w = make_window(load_bundled=False)
    asked = []
    w.library.confirm_code = lambda path, message: asked.append(message) and False
    assert w.open_path(str(saved_gen.parent))
    listed = {e.name: e for e in w.library.entries}
    assert set(listed) == {"gen", "digits-gan"} and not any(e.broken for e in listed.values())
    assert not listed["gen"].loaded and asked == []  # nothing of it read beyond its header, nothing asked
    w.models.list.setCurrentRow(w.library.entries.index(listed["gen"]))
    qtbot.waitUntil(lambda: bool(asked), timeout=60000)
    assert asked[0].startswith("gen.safetensors names Python code to import: catnets:Gen")
