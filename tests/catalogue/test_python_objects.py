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
