"""The bench runner's sampling: what it calls before it times."""
import time

from numbarnn.bench import Case
from numbarnn.bench import runner


def test_each_sample_follows_a_lead_in_as_long_as_itself(monkeypatch):
    # A call slows down after a pause until it has run for a while (a CPU
    # that was idle); the lead-in must absorb that, so every timed call of
    # a sample runs after `number` untimed ones.
    log = []

    def fn():
        log.append(time.perf_counter())
        time.sleep(0.002)

    monkeypatch.setattr(runner, "make_callable", lambda name, case, data: fn)
    case = Case("rnn", "float32", "forward", "S2s")
    out = runner.time_case(case, ["numbarnn"], rounds=2, pause=0.05, min_sample=0.01,
                           data={})
    t = out["numbarnn"]
    assert t.number >= 3
    # two warm-up calls, then per round a lead-in and a sample of `number` calls
    assert len(log) == 2 + 2 * 2 * t.number
    calls = log[2:]
    for r in range(2):
        rnd = calls[r * 2 * t.number:(r + 1) * 2 * t.number]
        gaps = [b - a for a, b in zip(rnd, rnd[1:])]
        # no pause inside a round: lead-in and sample run back to back
        assert max(gaps) < 0.04
    # the pause comes before each round's lead-in
    assert calls[2 * t.number] - calls[2 * t.number - 1] >= 0.05
    assert 0.0015 < t.median < 0.02
