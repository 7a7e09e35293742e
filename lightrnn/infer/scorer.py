"""Streaming inference: one word in, log P(word | history) out, for one or a few streams.

LightRNN, per word w_t (the same factorisation as `LightRNN.forward`):

    pending log P_r(. | h^c_{t-1})  --gather r(w_t)-->  log P_r(r(w_t))
    row step    x^r(r(w_t)) -> h^r_t -> column softmax, masked to row r(w_t) -> log P_c(c(w_t))
    column step x^c(c(w_t)) -> h^c_t -> row softmax for w_{t+1}  (kept, pending, for the next word)

The baselines keep the pending log P(. | history) over all V words instead.

Why not call the model one word at a time: at batch 1 a word is ~100 small kernels and the GPU
waits on Python to launch them (about 1.0 ms per word at |V| = 793k; docs/design.md#inference).
Here every buffer is allocated once, so on CUDA the whole per-word step is captured in a CUDA
graph and replayed with one launch; on the CPU the very same step function runs eagerly. Also:
the first layer's input gates of the R + C row and column vectors are precomputed (a gather
instead of a matrix product), and on CUDA the LSTM cell's pointwise part is one fused kernel.

The per-word math lives with each model (`model.stepper(dtype)`: `LightRNNStepper`,
`BaselineStepper`); this module owns the buffers, the CUDA graphs and the public API. The scorer
works on a snapshot of the weights: call `refresh()` after the model changes (a new table needs
nothing: the model's table buffers are read in place).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from lightrnn.baselines import BaselineLM, BaselineStepper
from lightrnn.errors import ConfigError, DataError
from lightrnn.model import LightRNN
from lightrnn.model_step import LightRNNStepper
from lightrnn.recurrent import RecurrentLM, State
from lightrnn.validation import check_fields

GRAPH_MODES = ("auto", "on", "off")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
Pick = Callable[[torch.Tensor], torch.Tensor]  # log-probabilities [B, N] -> one index per row [B]


@dataclass(frozen=True)
class StreamConfig:
    """How a scorer runs. The defaults are the fast path on either device."""

    batch_size: int = 1  # independent streams scored side by side
    graph: str = "auto"  # "auto": CUDA graph on CUDA, eager on the CPU; "on" (CUDA only); "off"
    dtype: str = "auto"  # of the matrix products: "float32", "bfloat16", or "auto" = bfloat16
    #                      on CUDA when the model uses amp; state and softmaxes stay float32
    check_ids: bool = True  # validate ids every step (on CUDA that waits for the GPU)
    warmup: int = 2  # eager runs of a step on a side stream before it is captured

    def __post_init__(self) -> None:
        check_fields(self, "")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size}: must be at least 1")
        if self.graph not in GRAPH_MODES:
            raise ConfigError(f"graph={self.graph!r}: choose one of {list(GRAPH_MODES)}")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ConfigError(f"dtype={self.dtype!r}: choose 'auto' or one of {list(DTYPES)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup={self.warmup}: must not be negative")


class StreamingScorer:
    """The LSTM state, the pending next-word distribution and the step machinery.

    Subclasses (`LightRNNScorer`, `BaselineScorer`; build one with `make_scorer`) hold the
    pending distribution and call their model's stepper. A step reads and writes only the
    static buffers made here, so it can be captured once and replayed.
    """

    def __init__(self, model: RecurrentLM, config: StreamConfig | None = None) -> None:
        cfg = config or StreamConfig()
        self.config = cfg
        self.model = model
        self.device = model.device
        if cfg.graph == "on" and self.device.type != "cuda":
            raise ConfigError(
                f"graph='on' needs the model on a CUDA device, it is on {self.device}: "
                "use graph='auto' (eager on the CPU)"
            )
        self.uses_graph = cfg.graph != "off" and self.device.type == "cuda"
        if cfg.dtype == "auto":
            amp = getattr(model.config, "amp", False)
            self.dtype = torch.bfloat16 if amp and self.device.type == "cuda" else torch.float32
        else:
            self.dtype = DTYPES[cfg.dtype]
        lstm = model.lstm
        L, B, H = lstm.num_layers, cfg.batch_size, lstm.hidden_size
        self.batch_size, self.num_layers = B, L
        self._h = torch.zeros(L, B, H, device=self.device)
        self._c = torch.zeros(L, B, H, device=self.device)
        self._words = torch.zeros(B, dtype=torch.long, device=self.device)
        self._log_prob = torch.zeros(B, device=self.device)
        self._graphs: dict[str, torch.cuda.CUDAGraph] = {}
        self._pool: tuple | None = None
        with torch.no_grad():
            self.stepper = model.stepper(self.dtype)
        self.reset()

    # -- what subclasses define ------------------------------------------------------------------

    def _static(self) -> list[torch.Tensor]:
        """Every buffer a step writes: saved and restored around a capture's warm-up runs."""
        return [self._h, self._c, self._words, self._log_prob]

    def _word_step(self) -> None:
        """log P(self._words | history) into self._log_prob; advance the state past the words."""
        raise NotImplementedError

    def _pending_from_state(self) -> None:
        """Recompute the pending next-word distribution from the current top-layer state."""
        raise NotImplementedError

    def sample_next(self, pick: Pick) -> torch.Tensor:
        """Draw the next word of every stream with `pick`, read it; the word ids [B]."""
        raise NotImplementedError

    # -- public ------------------------------------------------------------------------------------

    @torch.no_grad()
    def refresh(self) -> None:
        """Take a new snapshot of the model's weights (captured graphs stay valid)."""
        self.stepper.refresh()
        self.reset(self.state)  # the streams go on; their pending distributions are redone

    @torch.no_grad()
    def reset(self, state: State | None = None) -> None:
        """Start every stream afresh: from the zero state, or from `state` ([L, B, H] each)."""
        self._sync()
        if state is None:
            self._h.zero_()
            self._c.zero_()
        else:
            h, c = state
            if tuple(h.shape) != tuple(self._h.shape) or tuple(c.shape) != tuple(self._c.shape):
                raise DataError(
                    f"state shapes {tuple(h.shape)}, {tuple(c.shape)} do not match this scorer's "
                    f"{tuple(self._h.shape)}: pass the (h, c) of a model of the same size and "
                    f"batch_size={self.batch_size}"
                )
            self._h.copy_(h)
            self._c.copy_(c)
        self._pending_from_state()

    @property
    def state(self) -> State:
        """A copy of the LSTM state (h, c), each [num_layers, batch_size, hidden_dim]."""
        return self._h.clone(), self._c.clone()

    def step(self, words: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """log P(words | each stream's history), float32 [batch_size]; the state moves on."""
        self._sync()
        self._words.copy_(self._check(words, self.model.vocab_size, "word"))
        self._run("word", self._word_step)
        return self._log_prob.clone()

    @torch.no_grad()
    def score(self, ids: torch.Tensor) -> torch.Tensor:
        """log P of every id of [batch_size, T] ids, fed one column at a time: [batch_size, T]."""
        ids = torch.as_tensor(ids)
        if ids.dim() != 2 or ids.shape[0] != self.batch_size:
            raise DataError(
                f"ids must be [batch_size={self.batch_size}, T], got {tuple(ids.shape)}"
            )
        if self.config.check_ids:
            self.model.check_ids(ids)
        self._sync()
        ids = ids.to(self.device, torch.long)
        out = torch.empty(ids.shape, device=self.device)
        for t in range(ids.shape[1]):
            self._words.copy_(ids[:, t])
            self._run("word", self._word_step)
            out[:, t].copy_(self._log_prob)
        return out

    # -- machinery ---------------------------------------------------------------------------------

    @torch.no_grad()
    def _sync(self) -> None:
        """A new table (`set_table` swaps `model.table`): new masks, the pending rows redone."""
        if self.stepper.sync():
            self._pending_from_state()

    def _check(self, ids: torch.Tensor | Sequence[int], limit: int, what: str) -> torch.Tensor:
        """ids as a [batch_size] tensor, range-checked when the config asks for it."""
        ids = torch.as_tensor(ids)
        if ids.shape != (self.batch_size,) or ids.is_floating_point():
            raise DataError(
                f"pass one integer {what} id per stream: shape ({self.batch_size},), got "
                f"{tuple(ids.shape)} {ids.dtype}"
            )
        if self.config.check_ids and (int(ids.min()) < 0 or int(ids.max()) >= limit):
            raise DataError(f"{what} ids {ids.tolist()} must lie in [0, {limit})")
        return ids

    @torch.no_grad()
    def _run(self, name: str, fn: Callable[[], None]) -> None:
        """Run a step: replay its CUDA graph (capturing it the first time), or call it eagerly."""
        if not self.uses_graph:
            fn()
            return
        graph = self._graphs.get(name)
        if graph is None:
            graph = self._graphs[name] = self._capture(fn)
        graph.replay()

    def _capture(self, fn: Callable[[], None]) -> torch.cuda.CUDAGraph:
        """Warm `fn` up on a side stream and capture it; the streams' state is left as it was."""
        with self._preserved():
            current = torch.cuda.current_stream(self.device)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(current)
            with torch.cuda.stream(side):
                for _ in range(self.config.warmup):
                    fn()
            current.wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):  # steps never overlap: one pool
                fn()
            self._pool = graph.pool()
        return graph

    @contextlib.contextmanager
    def _preserved(self) -> Iterator[None]:
        """Undo, on exit, whatever the block wrote into the static buffers (warm-up runs)."""
        saved = [t.clone() for t in self._static()]
        try:
            yield
        finally:
            for buffer, value in zip(self._static(), saved, strict=True):
                buffer.copy_(value)


class LightRNNScorer(StreamingScorer):
    """LightRNN: the pending first distribution (shortlist words, then rows), plus row and
    column half-steps for sampling."""

    model: LightRNN
    stepper: LightRNNStepper

    def __init__(self, model: LightRNN, config: StreamConfig | None = None) -> None:
        B, R, C = (config or StreamConfig()).batch_size, model.config.n_rows, model.config.n_cols
        K, device = model.config.shortlist, model.device
        self._rows = torch.zeros(B, dtype=torch.long, device=device)
        self._cols = torch.zeros(B, dtype=torch.long, device=device)
        self._first = torch.zeros(B, dtype=torch.long, device=device)  # sampled first entries
        self._row_logp = torch.zeros(B, K + R, device=device)  # pending first distribution
        self._col_logp = torch.zeros(B, C, device=device)  # log P_c(. | h^r), masked to the row
        super().__init__(model, config)

    def _static(self) -> list[torch.Tensor]:
        tensors = [self._rows, self._cols, self._first, self._row_logp, self._col_logp]
        return [*super()._static(), *tensors]

    def _word_step(self) -> None:
        st, words, K = self.stepper, self._words, self.stepper.K
        rows, cols = st.cells_of(words)  # [B], [B]
        lp_first = self._row_logp.gather(1, st.first_index(words).unsqueeze(1)).squeeze(1)
        st.read_row(st.row_gates(rows, words), rows, self._h, self._c, self._col_logp)
        lp_col = self._col_logp.gather(1, cols.unsqueeze(1)).squeeze(1)
        if K:
            lp_col = torch.where(words < K, 0.0, lp_col)
        torch.add(lp_first, lp_col, out=self._log_prob)
        st.read_col(st.col_gates(cols, words), self._h, self._c, self._row_logp)

    def _row_half(self) -> None:
        st = self.stepper
        st.read_row(st.row_gates(self._rows), self._rows, self._h, self._c, self._col_logp)

    def _col_half(self) -> None:
        self.stepper.read_col(self.stepper.col_gates(self._cols), self._h, self._c, self._row_logp)

    def _sampled_row_half(self) -> None:
        """The row step of the sampled first entries: a shortlist word, or a row."""
        st, K = self.stepper, self.stepper.K
        self._rows.copy_((self._first - K).clamp(min=0))
        words = torch.where(self._first < K, self._first, K)  # K: "not a shortlist word"
        gates = st.row_gates(self._rows, words)
        st.read_row(gates, self._rows, self._h, self._c, self._col_logp)

    def _sampled_col_half(self) -> None:
        st, K = self.stepper, self.stepper.K
        words = torch.where(self._first < K, self._first, K)
        st.read_col(st.col_gates(self._cols, words), self._h, self._c, self._row_logp)

    def _pending_from_state(self) -> None:
        self.stepper.pending(self._h[-1], self._row_logp)

    def row_log_probs(self) -> torch.Tensor:
        """log P(first factor of the next word | history), [batch_size, K + R]: the K
        shortlist words, then the R rows (empty rows -inf)."""
        self._sync()
        return self._row_logp.clone()

    def feed_row(self, rows: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Read the next word's row; returns log P_c(column | row, history), [batch_size, C],
        -inf on the row's empty cells. Follow with `feed_col`: together they equal `step`."""
        self._sync()
        rows = self._check(rows, self.model.config.n_rows, "row").to(self.device)
        if self.config.check_ids and not self.stepper.rows_hold_words(rows):
            raise DataError(f"rows {rows.tolist()} hold no word: choose rows that hold a word")
        self._rows.copy_(rows)
        self._run("row", self._row_half)
        return self._col_logp.clone()

    def feed_col(self, cols: torch.Tensor | Sequence[int]) -> None:
        """Read the column of the word whose row `feed_row` just read."""
        self._sync()
        cols = self._check(cols, self.model.config.n_cols, "column").to(self.device)
        if self.config.check_ids and not self.stepper.cells_hold_words(self._rows, cols):
            cells = list(zip(self._rows.tolist(), cols.tolist(), strict=True))
            raise DataError(f"cells {cells} hold no word: choose a column of the row's words")
        self._cols.copy_(cols)
        self._run("col", self._col_half)

    def sample_next(self, pick: Pick) -> torch.Tensor:
        """The first factor (a shortlist word or a row), read; then for a row, a column among
        its words (docs/design.md#sampling)."""
        self._sync()
        K = self.stepper.K
        self._first.copy_(pick(self._row_logp))  # from masked log-probs: always valid
        self._run("sampled-row", self._sampled_row_half)
        self._cols.copy_(pick(self._col_logp))
        self._run("sampled-col", self._sampled_col_half)
        table_word = self.stepper.words_at(self._rows, self._cols)
        return torch.where(self._first < K, self._first, table_word) if K else table_word


class BaselineScorer(StreamingScorer):
    """Full or adaptive softmax: the pending log P(. | history) over the whole vocabulary."""

    model: BaselineLM
    stepper: BaselineStepper

    def __init__(self, model: BaselineLM, config: StreamConfig | None = None) -> None:
        B = (config or StreamConfig()).batch_size
        self._next_logp = torch.zeros(B, model.vocab_size, device=model.device)  # [B, V]
        super().__init__(model, config)

    def _static(self) -> list[torch.Tensor]:
        return [*super()._static(), self._next_logp]

    def _word_step(self) -> None:
        self._log_prob.copy_(self._next_logp.gather(1, self._words.unsqueeze(1)).squeeze(1))
        self.stepper.read_word(self._words, self._h, self._c, self._next_logp)

    def _pending_from_state(self) -> None:
        self.stepper.pending(self._h[-1], self._next_logp)

    def next_log_probs(self) -> torch.Tensor:
        """log P(next word | history) for every word, [batch_size, V]."""
        return self._next_logp.clone()

    def sample_next(self, pick: Pick) -> torch.Tensor:
        self._words.copy_(pick(self._next_logp))
        self._run("word", self._word_step)
        return self._words.clone()


def make_scorer(model: RecurrentLM, config: StreamConfig | None = None) -> StreamingScorer:
    """The streaming scorer for `model` (LightRNN or a baseline), in eval semantics."""
    if isinstance(model, LightRNN):
        return LightRNNScorer(model, config)
    if isinstance(model, BaselineLM):
        return BaselineScorer(model, config)
    raise ConfigError(
        f"no streaming scorer for {type(model).__name__}: pass a LightRNN or BaselineLM"
    )
