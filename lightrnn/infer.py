"""Streaming inference: one word in, log P(word | history) out, for one or a few streams.

LightRNN, per word w_t (the same factorisation as `LightRNN.forward`):

    pending log P_r(. | h^c_{t-1})  --gather r(w_t)-->  log P_r(r(w_t))
    row step    x^r(r(w_t)) -> h^r_t -> column softmax, masked to row r(w_t) -> log P_c(c(w_t))
    column step x^c(c(w_t)) -> h^c_t -> row softmax for w_{t+1}  (kept, pending, for the next word)

The baselines keep the pending log P(. | history) over all V words instead.

Why not call the model one word at a time: at batch 1 a word is ~100 small kernels and the GPU
waits on Python to launch them (DESIGN section 7: 1.0 ms per word at |V| = 793k). Here every
buffer is allocated once, so on CUDA the whole per-word step is captured in a CUDA graph and
replayed with one launch; on the CPU the very same step function runs eagerly. Also: the first
layer's input gates of the R + C row and column vectors are precomputed (a gather instead of a
matrix product), and on CUDA the LSTM cell's pointwise part is one fused kernel.

The scorer works on a snapshot of the weights: call `refresh()` after the model changes (a new
table needs nothing: the model's table buffers are read in place).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lightrnn.baselines import BaselineLM
from lightrnn.errors import ConfigError, DataError
from lightrnn.lm import RecurrentLM, State
from lightrnn.model import LightRNN

GRAPH_MODES = ("auto", "on", "off")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


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

    Subclasses (`LightRNNScorer`, `BaselineScorer`; build one with `make_scorer`) define the
    weights they prepare and the step functions. A step function reads and writes only the
    static buffers made here, so it can be captured once and replayed.
    """

    def __init__(self, model: RecurrentLM, config: StreamConfig | None = None) -> None:
        cfg = config or StreamConfig()
        lstm = model.lstm
        if lstm.proj_size or not lstm.bias or lstm.bidirectional or not lstm.batch_first:
            raise ConfigError("the scorer expects the models' own LSTM: batch_first, biased, plain")
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
        self._fused_cell = self.device.type == "cuda" and hasattr(torch, "_thnn_fused_lstm_cell")
        L, B, H = lstm.num_layers, cfg.batch_size, lstm.hidden_size
        self.batch_size, self.num_layers = B, L
        self._h = torch.zeros(L, B, H, device=self.device)
        self._c = torch.zeros(L, B, H, device=self.device)
        self._words = torch.zeros(B, dtype=torch.long, device=self.device)
        self._log_prob = torch.zeros(B, device=self.device)
        self._w: dict[str, torch.Tensor] = {}
        self._graphs: dict[str, torch.cuda.CUDAGraph] = {}
        self._pool: tuple | None = None
        self.refresh()

    # -- what subclasses define ------------------------------------------------------------------

    def _prepare(self) -> dict[str, torch.Tensor]:
        """The weights in the form the step uses (fresh tensors, never the parameters)."""
        raise NotImplementedError

    def _static(self) -> list[torch.Tensor]:
        """Every buffer a step writes: saved and restored around a capture's warm-up runs."""
        return [self._h, self._c, self._words, self._log_prob]

    def _word_step(self) -> None:
        """log P(self._words | history) into self._log_prob; advance the state past the words."""
        raise NotImplementedError

    def _pending_from_state(self) -> None:
        """Recompute the pending next-word distribution from the current top-layer state."""
        raise NotImplementedError

    def _before_use(self) -> None:
        """Bring derived data up to date before a step (LightRNN: a swapped table)."""

    # -- public ------------------------------------------------------------------------------------

    @torch.no_grad()
    def refresh(self) -> None:
        """Take a new snapshot of the model's weights (captured graphs stay valid)."""
        fresh = self._prepare()
        if not self._w:  # the first snapshot: these tensors are the ones graphs will read
            self._w = fresh
            self.reset()
            return
        for name, tensor in fresh.items():
            self._w[name].copy_(tensor)
        self.reset(self.state)  # the streams go on; their pending distributions are redone

    @torch.no_grad()
    def reset(self, state: State | None = None) -> None:
        """Start every stream afresh: from the zero state, or from `state` ([L, B, H] each)."""
        self._before_use()
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
        self._before_use()
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
        self._before_use()
        ids = ids.to(self.device, torch.long)
        out = torch.empty(ids.shape, device=self.device)
        for t in range(ids.shape[1]):
            self._words.copy_(ids[:, t])
            self._run("word", self._word_step)
            out[:, t].copy_(self._log_prob)
        return out

    # -- machinery ---------------------------------------------------------------------------------

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

    def _lstm_weights(self, first_input: bool) -> dict[str, torch.Tensor]:
        """Per layer l: w_ih{l} [4H, in] and b{l} (both biases) in the compute dtype, w_hh{l}.
        Layer 0's input side is left out when the subclass precomputes its gates."""
        lstm, dt, out = self.model.lstm, self.dtype, {}
        for layer in range(lstm.num_layers):
            if layer > 0 or first_input:
                bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
                out[f"w_ih{layer}"] = _copy(getattr(lstm, f"weight_ih_l{layer}"), dt)
                out[f"b{layer}"] = _copy(bias, dt)
            out[f"w_hh{layer}"] = _copy(getattr(lstm, f"weight_hh_l{layer}"), dt)
        return out

    def _lstm(self, gates_in: torch.Tensor) -> torch.Tensor:
        """One time step through every layer from layer 0's input gates [B, 4H] (float32, biases
        included); updates the state in place; returns the top layer's new h [B, H]."""
        w, dt = self._w, self.dtype
        x = gates_in
        for layer in range(self.num_layers):
            gates_x = gates_in
            if layer > 0:
                gates_x = F.linear(x.to(dt), w[f"w_ih{layer}"], w[f"b{layer}"]).float()
            gates_h = F.linear(self._h[layer].to(dt), w[f"w_hh{layer}"]).float()
            h, c = self._cell(gates_x, gates_h, self._c[layer])
            self._h[layer].copy_(h)
            self._c[layer].copy_(c)
            x = h
        return x

    def _cell(
        self, gates_x: torch.Tensor, gates_h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM cell's pointwise part (gate order i, f, g, o, as nn.LSTM)."""
        if self._fused_cell:
            h_new, c_new, _ = torch._thnn_fused_lstm_cell(gates_x, gates_h, c)
            return h_new, c_new
        i, f, g, o = (gates_x + gates_h).chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new


class LightRNNScorer(StreamingScorer):
    """LightRNN: the pending row distribution, plus row and column half-steps for sampling."""

    model: LightRNN

    def __init__(self, model: LightRNN, config: StreamConfig | None = None) -> None:
        B, R, C = (config or StreamConfig()).batch_size, model.config.n_rows, model.config.n_cols
        device = model.device
        self._rows = torch.zeros(B, dtype=torch.long, device=device)
        self._cols = torch.zeros(B, dtype=torch.long, device=device)
        self._row_logp = torch.zeros(B, R, device=device)  # pending log P_r(. | h^c)
        self._col_logp = torch.zeros(B, C, device=device)  # log P_c(. | h^r), masked to the row
        super().__init__(model, config)

    def _prepare(self) -> dict[str, torch.Tensor]:
        m, lstm, dt = self.model, self.model.lstm, self.dtype
        w_in = lstm.weight_ih_l0.detach().float()
        b_in = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().float()
        self._table = m.table
        return {
            "row_gates": F.linear(m.embed_rows.weight.detach().float(), w_in, b_in),  # [R, 4H]
            "col_gates": F.linear(m.embed_cols.weight.detach().float(), w_in, b_in),  # [C, 4H]
            "w_row": _copy(m.head_rows.weight, dt),
            "w_col": _copy(m.head_cols.weight, dt),
            **self._table_biases(),
            **self._lstm_weights(first_input=False),
        }

    def _table_biases(self) -> dict[str, torch.Tensor]:
        """The heads' biases with the table's mask folded in (one matrix product per head):
        row_bias [R] = b^r (-inf on empty rows), col_bias [R, C] = b^c (-inf on empty cells)."""
        m, dt = self.model, self.dtype
        return {
            "row_bias": _copy(m.head_rows.bias + m.row_bias, dt),
            "col_bias": _copy(m.head_cols.bias + m.cell_bias, dt),
        }

    def _before_use(self) -> None:
        """A new table (`set_table` swaps `model.table`): new masks, the pending rows redone."""
        if self.model.table is not self._table:
            self._table = self.model.table
            with torch.no_grad():
                for name, tensor in self._table_biases().items():
                    self._w[name].copy_(tensor)
                self._pending_from_state()

    def _static(self) -> list[torch.Tensor]:
        return [*super()._static(), self._rows, self._cols, self._row_logp, self._col_logp]

    def _word_step(self) -> None:
        m = self.model
        rows = m.word_rows.index_select(0, self._words)  # [B]
        cols = m.word_cols.index_select(0, self._words)
        lp_row = self._row_logp.gather(1, rows.unsqueeze(1)).squeeze(1)
        self._row_half(rows)
        lp_col = self._col_logp.gather(1, cols.unsqueeze(1)).squeeze(1)
        torch.add(lp_row, lp_col, out=self._log_prob)
        self._col_half(cols)

    def _row_half(self, rows: torch.Tensor) -> None:
        """Read x^r(rows); the column distribution, masked to those rows' cells."""
        w = self._w
        top = self._lstm(w["row_gates"].index_select(0, rows)).to(self.dtype)
        logits = torch.addmm(w["col_bias"].index_select(0, rows), top, w["w_col"].t())  # [B, C]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=self._col_logp)

    def _col_half(self, cols: torch.Tensor) -> None:
        """Read x^c(cols); the row distribution of the next word."""
        self._row_head(self._lstm(self._w["col_gates"].index_select(0, cols)))

    def _row_head(self, top: torch.Tensor) -> None:
        logits = F.linear(top.to(self.dtype), self._w["w_row"], self._w["row_bias"])  # [B, R]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=self._row_logp)

    def _pending_from_state(self) -> None:
        self._row_head(self._h[-1])

    def row_log_probs(self) -> torch.Tensor:
        """log P_r(row of the next word | history), [batch_size, R] (empty rows -inf)."""
        self._before_use()
        return self._row_logp.clone()

    def feed_row(self, rows: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Read the next word's row; returns log P_c(column | row, history), [batch_size, C],
        -inf on the row's empty cells. Follow with `feed_col`: together they equal `step`."""
        self._before_use()
        rows = self._check(rows, self.model.config.n_rows, "row").to(self.device)
        if self.config.check_ids and not bool(self.model.row_bias[rows].eq(0).all()):
            raise DataError(f"rows {rows.tolist()} hold no word: choose rows that hold a word")
        self._rows.copy_(rows)
        self._run("row", lambda: self._row_half(self._rows))
        return self._col_logp.clone()

    def feed_col(self, cols: torch.Tensor | Sequence[int]) -> None:
        """Read the column of the word whose row `feed_row` just read."""
        self._before_use()
        cols = self._check(cols, self.model.config.n_cols, "column").to(self.device)
        if self.config.check_ids and not bool(self.model.cell_bias[self._rows, cols].eq(0).all()):
            cells = list(zip(self._rows.tolist(), cols.tolist(), strict=True))
            raise DataError(f"cells {cells} hold no word: choose a column of the row's words")
        self._cols.copy_(cols)
        self._run("col", lambda: self._col_half(self._cols))


class BaselineScorer(StreamingScorer):
    """Full or adaptive softmax: the pending log P(. | history) over the whole vocabulary."""

    model: BaselineLM

    def __init__(self, model: BaselineLM, config: StreamConfig | None = None) -> None:
        B = (config or StreamConfig()).batch_size
        self._next_logp = torch.zeros(B, model.vocab_size, device=model.device)  # [B, V]
        super().__init__(model, config)

    def _prepare(self) -> dict[str, torch.Tensor]:
        m, dt = self.model, self.dtype
        w = {"embed": _copy(m.embed.weight, dt), **self._lstm_weights(first_input=True)}
        if m.config.softmax == "full":
            w["w_out"], w["b_out"] = _copy(m.head.weight, dt), _copy(m.head.bias, dt)
            return w
        head = m.head  # nn.AdaptiveLogSoftmaxWithLoss
        w["w_head"] = _copy(head.head.weight, dt)
        if head.head.bias is not None:
            w["b_head"] = _copy(head.head.bias, dt)
        for i, tail in enumerate(head.tail):
            w[f"tail{i}_in"], w[f"tail{i}_out"] = (
                _copy(tail[0].weight, dt),
                _copy(tail[1].weight, dt),
            )
        return w

    def _static(self) -> list[torch.Tensor]:
        return [*super()._static(), self._next_logp]

    def _word_step(self) -> None:
        w = self._w
        self._log_prob.copy_(self._next_logp.gather(1, self._words.unsqueeze(1)).squeeze(1))
        x = w["embed"].index_select(0, self._words)  # [B, d]
        self._head(self._lstm(F.linear(x, w["w_ih0"], w["b0"]).float()))

    def _pending_from_state(self) -> None:
        self._head(self._h[-1])

    def _head(self, top: torch.Tensor) -> None:
        """log P(. | history) [B, V] from the top layer's h [B, H] into the pending buffer."""
        w, t = self._w, top.to(self.dtype)
        if self.model.config.softmax == "full":
            logits = F.linear(t, w["w_out"], w["b_out"])  # [B, V]
            torch.log_softmax(logits, 1, dtype=torch.float32, out=self._next_logp)
            return
        # nn.AdaptiveLogSoftmaxWithLoss._get_full_log_prob, on static buffers.
        head = self.model.head
        short = head.shortlist_size
        head_lp = F.log_softmax(F.linear(t, w["w_head"], w.get("b_head")).float(), dim=1)
        self._next_logp[:, :short].copy_(head_lp[:, :short])
        for i, (start, stop) in enumerate(itertools.pairwise(head.cutoffs)):
            tail = F.linear(F.linear(t, w[f"tail{i}_in"]), w[f"tail{i}_out"]).float()
            cluster = F.log_softmax(tail, dim=1) + head_lp[:, short + i : short + i + 1]
            self._next_logp[:, start:stop].copy_(cluster)

    def next_log_probs(self) -> torch.Tensor:
        """log P(next word | history) for every word, [batch_size, V]."""
        return self._next_logp.clone()


def make_scorer(model: RecurrentLM, config: StreamConfig | None = None) -> StreamingScorer:
    """The streaming scorer for `model` (LightRNN or a baseline), in eval semantics."""
    if isinstance(model, LightRNN):
        return LightRNNScorer(model, config)
    if isinstance(model, BaselineLM):
        return BaselineScorer(model, config)
    raise ConfigError(
        f"no streaming scorer for {type(model).__name__}: pass a LightRNN or BaselineLM"
    )


@torch.no_grad()
def generate(
    model: RecurrentLM,
    prompt: Sequence[int] | torch.Tensor,
    n_words: int,
    temperature: float = 1.0,
    seed: int = 0,
    config: StreamConfig | None = None,
) -> list[int]:
    """Sample `n_words` word ids after `prompt` (may be empty): reproducible from `seed`.

    LightRNN samples the row, reads it, then samples the column among that row's non-empty
    cells (DESIGN section 1). temperature 0 takes the most likely row/column/word.
    """
    if n_words < 0 or temperature < 0:
        raise ConfigError(f"n_words={n_words} and temperature={temperature} must be >= 0")
    cfg = config or StreamConfig()
    if cfg.batch_size != 1:
        raise ConfigError(
            f"generate samples one stream: batch_size must be 1, not {cfg.batch_size}"
        )
    scorer = make_scorer(model, cfg)
    prompt = torch.as_tensor(prompt, dtype=torch.long).reshape(1, -1)
    if prompt.shape[1]:
        scorer.score(prompt)
    gen = torch.Generator(device=scorer.device).manual_seed(seed)
    out = torch.empty(n_words, dtype=torch.long, device=scorer.device)
    if isinstance(scorer, LightRNNScorer):
        grid = torch.from_numpy(model.table.cell_to_word()).to(scorer.device)  # [R, C]
        for t in range(n_words):
            row = _sample(scorer._row_logp, temperature, gen)
            scorer._rows.copy_(row)  # sampled from masked logits: valid, no host check needed
            scorer._run("row", lambda: scorer._row_half(scorer._rows))
            col = _sample(scorer._col_logp, temperature, gen)
            scorer._cols.copy_(col)
            scorer._run("col", lambda: scorer._col_half(scorer._cols))
            out[t] = grid[row, col][0]
    else:
        assert isinstance(scorer, BaselineScorer)
        for t in range(n_words):
            word = _sample(scorer._next_logp, temperature, gen)
            scorer._words.copy_(word)
            scorer._run("word", scorer._word_step)
            out[t] = word[0]
    return out.tolist()


def _sample(log_probs: torch.Tensor, temperature: float, gen: torch.Generator) -> torch.Tensor:
    """One index per row of [B, N] log-probabilities (Gumbel-max: no host round trip)."""
    if temperature == 0:
        return log_probs.argmax(dim=1)
    u = torch.rand(log_probs.shape, generator=gen, device=log_probs.device)
    return (log_probs / temperature - torch.log(-torch.log(u))).argmax(dim=1)


def _copy(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A detached, contiguous copy in `dtype` (a snapshot, never an alias of a parameter)."""
    return t.detach().to(dtype=dtype, copy=True).contiguous()
