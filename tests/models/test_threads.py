"""The thread policy for interactive work (issue S.4): one thread unless more are faster by a clear margin,
from times measured on the model itself."""

import torch

from latent_explorer.models.threads import MARGIN, choose_threads, measure_threads, torch_threads


def test_one_thread_unless_more_are_clearly_faster():
    assert choose_threads({1: 0.010, 2: 0.009}) == 1  # barely faster: one thread, which stays fast when busy
    assert choose_threads({1: 0.010, 2: 0.010 / MARGIN * 0.99}) == 2
    assert choose_threads({1: 0.010, 2: 0.030}) == 1
    assert choose_threads({1: 0.010}) == 1
    assert choose_threads({1: 0.09, 2: 0.05, 4: 0.02}) == 4


def test_the_measurement_leaves_the_threads_as_they_were():
    before = torch.get_num_threads()
    calls = []
    n, times = measure_threads(lambda: calls.append(torch.get_num_threads()), reps=2)
    assert torch.get_num_threads() == before and n in times and 1 in times
    assert set(calls) == set(times)  # each count was really used for its calls
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
