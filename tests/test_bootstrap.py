import pytest

from lightrnn import ConfigError, Table
from lightrnn.bootstrap import Decision, RoundStats, carry_over_table, check_convergence


def test_continue_until_a_stop_rule_fires():
    assert check_convergence([], 4) == Decision(False, "continue", 0)
    r1 = RoundStats(1, 300.0, 0.6)
    assert check_convergence([r1], 4) == Decision(False, "continue", 1)
    r2 = RoundStats(2, 250.0, 0.005)
    assert check_convergence([r1, r2], 4) == Decision(True, "stable", 2)
    assert check_convergence([r1, RoundStats(2, 310.0, 0.3)], 4) == Decision(
        True, "no_improvement", 1
    )
    assert check_convergence([r1, RoundStats(2, 250.0, None)], 2) == Decision(True, "max_rounds", 2)
    assert check_convergence([r1], 1, moved_threshold=0.0) == Decision(True, "max_rounds", 1)


def test_a_round_worth_less_than_min_valid_gain_ends_the_loop():
    r1, r2 = RoundStats(1, 300.0, 0.8), RoundStats(2, 250.0, 0.7)  # round 2: 1/6 better
    assert check_convergence([r1, r2], 4, min_valid_gain=0.16) == Decision(False, "continue", 2)
    assert check_convergence([r1, r2], 4, min_valid_gain=0.17) == Decision(True, "small_gain", 2)
    r3 = RoundStats(3, 248.0, 0.7)  # 0.8% better than the best earlier round
    assert check_convergence([r1, r2, r3], 4, min_valid_gain=0.01) == Decision(
        True, "small_gain", 3
    )
    assert check_convergence([r1, r2, r3], 4) == Decision(False, "continue", 3)  # 0: off
    with pytest.raises(ConfigError, match=r"min_valid_gain=1\.5"):
        check_convergence([r1], 4, min_valid_gain=1.5)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="max_rounds=0"):
        check_convergence([], 0)
    with pytest.raises(ConfigError, match="moved_threshold=2"):
        check_convergence([], 3, moved_threshold=2)


def test_carry_over_keeps_surviving_words_in_their_cells():
    old_tokens = [f"w{i}" for i in range(20)]
    old = Table.random(20, seed=1)  # 5 x 4
    new_tokens = [*old_tokens[:15], "new1", "new2", "new3", "new4", "new5", "new6"]  # 21 words
    new = carry_over_table(old, old_tokens, new_tokens, seed=0)
    assert (new.n_rows, new.n_cols) == (5, 5)
    for w in range(15):
        assert (new.rows[w], new.cols[w]) == (old.rows[w], old.cols[w])
    assert new.vocab_size == 21  # one-to-one checked by Table itself
    assert carry_over_table(old, old_tokens, new_tokens, seed=0) == new
