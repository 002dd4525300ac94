"""latent_explorer.models.analysis.embedding: what a child process sends back."""

import pickle

import numpy as np


def test_a_packed_map_travels_as_bytes_and_places_as_the_fitted_one():
    """The map a child sends keeps its fitted openTSNE object pickled, so that its arrival imports nothing;
    the first place() unpickles it, and places new latents where the fitted object does."""
    from latent_explorer.models.analysis.embedding import tsne_job

    z = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    gen = tsne_job(z, lambda: False)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        emb = done.value
    assert isinstance(emb.fitted, bytes) and emb.xy.shape == (60, 2)
    emb = pickle.loads(pickle.dumps(emb))  # as the queue carries it
    fitted = pickle.loads(emb.fitted)
    want = np.asarray(fitted.transform(z[:3].astype(np.float64), n_iter=100), np.float32)
    assert np.allclose(emb.place(z[:3]), want, atol=1e-4)
    assert not isinstance(emb.fitted, bytes) and emb.packed().place(z[:3]).shape == (3, 2)
