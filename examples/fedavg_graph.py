"""Federated averaging (FedAvg) of a tiny GCN on a synthetic graph, in plain JAX.

The task: node classification on a stochastic block model. `NUM_NODES` nodes fall into
`NUM_CLASSES` communities; an edge joins two nodes of the same community with probability
`P_IN` and of different communities with probability `P_OUT`. Each node's features are its
community's mean vector plus heavy Gaussian noise, so one node alone is a poor predictor of its
label and the model has to pool features over its neighbours. A random fifth of the nodes is
held out for testing.

The federation: the nodes are split at random among `--clients` clients; each client sees only
the subgraph induced by its own nodes (edges to other clients' nodes are lost) and the labels of
its own training nodes. Every round, each client starts from the global parameters, runs
`LOCAL_STEPS` steps of Adam (written by hand) on its subgraph, and sends back its parameters;
the server averages them weighted by each client's number of training nodes (FedAvg). The
global model is then evaluated on the held-out test nodes of the full graph. The clients are
padded to one size and trained together under `jax.vmap`, so there is one compilation.

The model: a 2-layer graph convolutional network, `A relu(A X W1 + b1) W2 + b2`, where `A` is
the symmetrically normalised adjacency matrix with self-loops. Only `jax` is used for
training.

Metrics are written as JSON lines to `<out>/<run_id>.jsonl`, one object per line, flushed after
every round:

    {"run_id": str, "round": int, "client_id": str | null, "step": int,
     "metric": str, "value": float, "timestamp": float}

`round` counts from 1; `client_id` is `"client-<i>"` for a client's local metrics (loss and
accuracy of its locally trained model on its own training nodes) and null for the global
model's metrics on the test nodes; `step` is the global step count (local steps done per client
so far); `metric` is `"loss"` or `"accuracy"`; `timestamp` is Unix seconds. A file with the same
run id is overwritten.

With `--format tensorboard` (or `both`) the same figures are written as TensorBoard scalars
with tensorboardX's `SummaryWriter` into `<out>/<run_id>/events.out.tfevents.*`: tags `loss`
and `accuracy` for the global model, `client-<i>/loss` and `client-<i>/accuracy` for the
clients, at the global step, flushed after every round. The automation's training ingestion
reads both formats.

Usage:

    python examples/fedavg_graph.py [--out DIR] [--rounds N] [--clients N] [--run-id ID]
                                    [--seed S] [--format jsonl|tensorboard|both]

The default output directory is `$AUTOMATION_TRAINING_DIR`, or `.automation/training` under the
current directory; the default run id is `fedavg-<UTC timestamp>`. Runs are deterministic for
a given seed and client count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

NUM_NODES = 400
NUM_CLASSES = 4
NUM_FEATURES = 16
HIDDEN = 16
P_IN = 0.06
P_OUT = 0.01
FEATURE_SIGNAL = 0.5
TEST_FRACTION = 0.2
LOCAL_STEPS = 5
LEARNING_RATE = 0.01
MIN_NODES_PER_CLIENT = 10
MAX_CLIENTS = NUM_NODES // MIN_NODES_PER_CLIENT

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Params = dict[str, jax.Array]


# --------------------------------------------------------------------------- data


def make_graph(seed: int) -> dict[str, np.ndarray]:
    """A stochastic block model: adjacency, noisy community features, labels and a test mask."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, NUM_NODES)
    same = labels[:, None] == labels[None, :]
    prob = np.where(same, P_IN, P_OUT)
    upper = np.triu(rng.random((NUM_NODES, NUM_NODES)) < prob, k=1)
    adj = (upper | upper.T).astype(np.float32)
    means = rng.normal(size=(NUM_CLASSES, NUM_FEATURES)) * FEATURE_SIGNAL
    feats = (means[labels] + rng.normal(size=(NUM_NODES, NUM_FEATURES))).astype(np.float32)
    test = np.zeros(NUM_NODES, dtype=bool)
    test[rng.permutation(NUM_NODES)[: int(NUM_NODES * TEST_FRACTION)]] = True
    return {"adj": adj, "x": feats, "y": labels.astype(np.int32), "test": test}


def normalize(adj: np.ndarray) -> np.ndarray:
    """`D^-1/2 (A + I) D^-1/2`, the GCN propagation matrix."""
    a = adj + np.eye(adj.shape[0], dtype=adj.dtype)
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return (a * d[:, None] * d[None, :]).astype(np.float32)


def split_clients(graph: dict[str, np.ndarray], clients: int, seed: int) -> dict[str, Any]:
    """Random node partition into padded, stacked client subgraphs (axis 0 is the client)."""
    rng = np.random.default_rng(seed + 1)
    parts = np.array_split(rng.permutation(NUM_NODES), clients)
    size = max(len(p) for p in parts)
    a = np.zeros((clients, size, size), np.float32)
    x = np.zeros((clients, size, NUM_FEATURES), np.float32)
    y = np.zeros((clients, size), np.int32)
    mask = np.zeros((clients, size), np.float32)
    for c, nodes in enumerate(parts):
        n = len(nodes)
        sub = np.zeros((size, size), np.float32)
        sub[:n, :n] = graph["adj"][np.ix_(nodes, nodes)]
        a[c] = normalize(sub)  # padding nodes only have their self-loop
        x[c, :n] = graph["x"][nodes]
        y[c, :n] = graph["y"][nodes]
        mask[c, :n] = ~graph["test"][nodes]  # clients train on their non-test nodes only
    return {"a": a, "x": x, "y": y, "mask": mask, "n_train": mask.sum(axis=1)}


# --------------------------------------------------------------------------- model


def init_params(key: jax.Array) -> Params:
    """Glorot-initialised weights and zero biases of the 2-layer GCN."""
    k1, k2 = jax.random.split(key)

    def glorot(k: jax.Array, fan_in: int, fan_out: int) -> jax.Array:
        lim = jnp.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(k, (fan_in, fan_out), minval=-lim, maxval=lim)

    return {
        "w1": glorot(k1, NUM_FEATURES, HIDDEN),
        "b1": jnp.zeros(HIDDEN),
        "w2": glorot(k2, HIDDEN, NUM_CLASSES),
        "b2": jnp.zeros(NUM_CLASSES),
    }


def gcn(params: Params, a: jax.Array, x: jax.Array) -> jax.Array:
    """Class logits of every node: `A relu(A X W1 + b1) W2 + b2`."""
    h = jax.nn.relu(a @ x @ params["w1"] + params["b1"])
    return a @ h @ params["w2"] + params["b2"]


def loss_and_accuracy(
    params: Params, a: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy over the nodes where `mask` is 1."""
    logits = gcn(params, a, x)
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
    total = jnp.maximum(mask.sum(), 1.0)
    correct = (jnp.argmax(logits, axis=1) == y).astype(jnp.float32)
    return (nll * mask).sum() / total, (correct * mask).sum() / total


def _loss(params: Params, a: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """The training objective: masked mean cross-entropy."""
    return loss_and_accuracy(params, a, x, y, mask)[0]


# --------------------------------------------------------------------------- federated training


def local_train(
    params: Params, a: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array
) -> tuple[Params, jax.Array, jax.Array]:
    """`LOCAL_STEPS` of Adam from `params` on one client; returns new params, loss, accuracy."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    zeros = jax.tree.map(jnp.zeros_like, params)

    def step(carry: tuple[Params, Params, Params], t: jax.Array) -> tuple[Any, None]:
        p, m, v = carry
        g = jax.grad(_loss)(p, a, x, y, mask)
        m = jax.tree.map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = jax.tree.map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
        lr = LEARNING_RATE * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        p = jax.tree.map(lambda p_, m_, v_: p_ - lr * m_ / (jnp.sqrt(v_) + eps), p, m, v)
        return (p, m, v), None

    ts = jnp.arange(1, LOCAL_STEPS + 1, dtype=jnp.float32)
    (params, _, _), _ = jax.lax.scan(step, (params, zeros, zeros), ts)
    loss, acc = loss_and_accuracy(params, a, x, y, mask)
    return params, loss, acc


@jax.jit
def fed_round(
    params: Params, clients: dict[str, jax.Array]
) -> tuple[Params, jax.Array, jax.Array]:
    """One FedAvg round: local training on every client, then the sample-weighted average."""
    local, loss, acc = jax.vmap(local_train, in_axes=(None, 0, 0, 0, 0))(
        params, clients["a"], clients["x"], clients["y"], clients["mask"]
    )
    w = clients["n_train"] / clients["n_train"].sum()
    avg = jax.tree.map(lambda p: jnp.tensordot(w, p, axes=1), local)
    return avg, loss, acc


evaluate = jax.jit(loss_and_accuracy)


# --------------------------------------------------------------------------- output and CLI


def record(
    fh: IO[str], run_id: str, rnd: int, client: str | None, step: int, metric: str, value: float
) -> None:
    """Write one metrics line in the JSON-lines schema."""
    obj = {
        "run_id": run_id,
        "round": rnd,
        "client_id": client,
        "step": step,
        "metric": metric,
        "value": float(value),
        "timestamp": time.time(),
    }
    fh.write(json.dumps(obj) + "\n")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options, validated."""
    parser = _Parser(
        prog="fedavg_graph.py",
        description="FedAvg of a 2-layer GCN over clients on a synthetic graph; metrics as JSONL.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: $AUTOMATION_TRAINING_DIR or .automation/training)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="federated rounds (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="number of clients (default 4)")
    parser.add_argument("--run-id", default=None, help="run id (default fedavg-<UTC timestamp>)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--format", choices=("jsonl", "tensorboard", "both"), default="jsonl",
        help="metrics as JSON lines, TensorBoard event files, or both (default jsonl)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}, got {args.clients}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be between 0 and 2**32 - 1, got {args.seed}")
    if args.run_id is None:
        args.run_id = "fedavg-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    elif not _RUN_ID.match(args.run_id):
        parser.error(
            f"--run-id {args.run_id!r} must be 1-128 of letters, digits, '.', '_', '-' "
            "and start with a letter or digit"
        )
    if args.out is None:
        env = os.environ.get("AUTOMATION_TRAINING_DIR")
        args.out = Path(env) if env else Path(".automation") / "training"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the federated training and write its metrics; returns the exit status."""
    args = parse_args(argv)
    graph = make_graph(args.seed)
    clients = {k: jnp.asarray(v) for k, v in split_clients(graph, args.clients, args.seed).items()}
    full_a = jnp.asarray(normalize(graph["adj"]))
    full_x, full_y = jnp.asarray(graph["x"]), jnp.asarray(graph["y"])
    test_mask = jnp.asarray(graph["test"], dtype=jnp.float32)
    params = init_params(jax.random.key(args.seed))

    try:
        args.out.mkdir(parents=True, exist_ok=True)
        outputs = _open_outputs(args)
    except OSError as exc:
        print(f"fedavg_graph.py: error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    with contextlib.ExitStack() as stack:
        for output in outputs.values():
            stack.callback(output.close)
        fh, tb = outputs.get("jsonl"), outputs.get("tensorboard")
        for rnd in range(1, args.rounds + 1):
            params, c_loss, c_acc = fed_round(params, clients)
            g_loss, g_acc = evaluate(params, full_a, full_x, full_y, test_mask)
            step = rnd * LOCAL_STEPS
            figures = [(f"client-{c}", name, values[c]) for c in range(args.clients)
                       for name, values in (("loss", c_loss), ("accuracy", c_acc))]
            figures += [(None, "loss", g_loss), (None, "accuracy", g_acc)]
            for client, metric, value in figures:
                if fh is not None:
                    record(fh, args.run_id, rnd, client, step, metric, value)
                if tb is not None:
                    tag = f"{client}/{metric}" if client else metric
                    tb.add_scalar(tag, float(value), step)
            for output in outputs.values():
                output.flush()
            print(f"round {rnd:3d}  global loss {float(g_loss):.4f}  accuracy {float(g_acc):.3f}")
    for output in outputs.values():
        print(getattr(output, "name", None) or getattr(output, "logdir", ""))
    return 0


def _open_outputs(args: argparse.Namespace) -> dict[str, Any]:
    """The open JSON-lines file and/or TensorBoard writer that `--format` asks for."""
    outputs: dict[str, Any] = {}
    if args.format in ("jsonl", "both"):
        outputs["jsonl"] = (args.out / f"{args.run_id}.jsonl").open("w", encoding="utf-8")
    if args.format in ("tensorboard", "both"):
        from tensorboardX import SummaryWriter

        outputs["tensorboard"] = SummaryWriter(str(args.out / args.run_id))
    return outputs

if __name__ == "__main__":
    sys.exit(main())
