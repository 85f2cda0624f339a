"""The PyTorch peer of swapserve-train: trains the same model (mlp or cnn), with
Keras's initialisers (Glorot-uniform kernels, zero biases), on the same
Fashion-MNIST examples with the same batch size, optimizer (Adam, Keras's
defaults) and thread count, and prints samples per second and test accuracy.

    python3 bench/torch_train_peer.py --model mlp --threads 2 --epochs 1
"""
import argparse
import gzip
import json
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(data_dir, split, limit):
    stem = "train" if split == "train" else "t10k"
    images = read_idx(f"{data_dir}/{stem}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = read_idx(f"{data_dir}/{stem}-labels-idx1-ubyte.gz", 8)
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    return torch.tensor(images / 255.0, dtype=torch.float32), torch.tensor(labels, dtype=torch.long)


def build(model):
    if model == "mlp":
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                   torch.nn.Dropout(0.2), torch.nn.Linear(512, 10))
    return torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(1600, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))


def keras_init(net):
    """Keras's defaults, which swapserve-train uses: Glorot-uniform kernels (fans
    as Keras counts them: a conv's receptive field times its channels), zero biases.
    PyTorch's own defaults differ (a smaller uniform range, random biases)."""
    for layer in net:
        if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp")
    p.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--train_examples", type=int, default=-1)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load(a.data_dir, "train", a.train_examples)
    tx, ty = load(a.data_dir, "test", -1)
    if a.model == "cnn":
        x, tx = x.unsqueeze(1), tx.unsqueeze(1)
    net = build(a.model)
    keras_init(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    seconds = 0.0
    for _ in range(a.epochs):
        net.train()
        order = torch.randperm(len(x))
        start = time.perf_counter()
        for b in range(0, len(x), a.batch_size):
            idx = order[b:b + a.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        accuracy = (net(tx).argmax(1) == ty).float().mean().item()
    print(json.dumps({"model": a.model, "samples_per_second": a.epochs * len(x) / seconds,
                      "test_accuracy": accuracy, "threads": a.threads, "batch_size": a.batch_size}))


if __name__ == "__main__":
    main()
