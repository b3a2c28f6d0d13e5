"""The CIFAR10 Standard and StandardEI networks in PyTorch (eager, channels_last): the speed
baseline of ``bench_train.py``.

Same architecture and operation count as ``ei_tf.model.build_model`` with the default configs
(paper section 1, eq. 1-2): per-image standardization, two feedforward areas (conv 3x3,
BatchNorm, ReLU, max-pool 3x3 'same'), two recurrent areas over T = 4 steps with
depthwise-separable sign-constrained (``abs``) connections and per-step BatchNorm, readout from
the last step. It exists to time a training step, not to train models.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DaleConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, both kernels through ``abs`` (Dale's law)."""

    def __init__(self, c_in: int, c_out: int, bias: bool):
        super().__init__()
        self.depthwise = nn.Parameter(torch.randn(c_in, 1, 3, 3) * 0.1)
        self.pointwise = nn.Parameter(torch.randn(c_out, c_in, 1, 1) * 0.1)
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None

    def forward(self, x):
        x = F.conv2d(x, self.depthwise.abs(), padding=1, groups=x.shape[1])
        return F.conv2d(x, self.pointwise.abs(), self.bias)


class StepBatchNorm(nn.Module):
    """One BatchNorm per time step."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels, momentum=0.003, eps=1e-5)
                                   for _ in range(steps))

    def forward(self, x, step):
        return self.norms[step](x)


class StandardCell(nn.Module):
    """Standard cell, Mul input gate, Sub output gate, BN on the cell state."""

    def __init__(self, c_x, pn, ig, og, steps):
        super().__init__()
        self.pn_to_ig, self.x_to_ig = DaleConv(pn, ig, True), DaleConv(c_x, ig, False)
        self.ig_to_pn = DaleConv(ig, pn, True)
        self.pn_to_og, self.x_to_og = DaleConv(pn, og, True), DaleConv(c_x, og, False)
        self.og_to_pn = DaleConv(og, pn, True)
        self.pn_to_f, self.x_to_f = DaleConv(pn, pn, True), DaleConv(c_x, pn, False)
        self.pn_to_pn, self.x_to_pn = DaleConv(pn, pn, True), DaleConv(c_x, pn, False)
        self.norm = StepBatchNorm(steps, pn)
        self.pn = pn

    def zero_state(self, x):
        b, _, h, w = x.shape
        z = x.new_zeros(b, self.pn, h, w).contiguous(memory_format=torch.channels_last)
        return z, z

    def forward(self, x, state, step):
        c, h = state
        ig_cells = F.relu(self.pn_to_ig(h) + self.x_to_ig(x))
        og_cells = F.relu(self.pn_to_og(h) + self.x_to_og(x))
        f = torch.sigmoid(self.pn_to_f(h) + self.x_to_f(x) + 1.0)
        u = self.pn_to_pn(h) + self.x_to_pn(x)
        c = self.norm(f * c + F.relu(u) * (1.0 - torch.sigmoid(self.ig_to_pn(ig_cells))), step)
        h = F.relu(c - F.relu(self.og_to_pn(og_cells)))
        return h, (c, h)


class StandardEICell(nn.Module):
    """StandardEI cell with BN on the E current (eq. 1)."""

    def __init__(self, c_x, e, i, steps):
        super().__init__()
        sizes = {"E": e, "I": i, "X": c_x}
        self.conv = nn.ModuleDict({f"{p}_to_{q}": DaleConv(sizes[p], sizes[q], p == "E")
                                   for p in ("E", "I", "X") for q in ("E", "I")})
        self.forget = nn.ParameterDict({q: nn.Parameter(torch.zeros(sizes[q], 1, 1))
                                        for q in ("E", "I")})
        self.norm = StepBatchNorm(steps, e)
        self.e, self.i = e, i

    def zero_state(self, x):
        b, _, h, w = x.shape
        fmt = torch.channels_last
        return (x.new_zeros(b, self.e, h, w).contiguous(memory_format=fmt),
                x.new_zeros(b, self.i, h, w).contiguous(memory_format=fmt))

    def forward(self, x, state, step):
        pre = {"E": state[0], "I": state[1], "X": x}
        sign = {"E": 1.0, "I": -1.0, "X": 1.0}
        new = []
        for q, prev in zip(("E", "I"), state):
            current = sum(sign[p] * self.conv[f"{p}_to_{q}"](pre[p]) for p in ("E", "I", "X"))
            if q == "E":
                current = self.norm(current, step)
            g = torch.sigmoid(self.forget[q] + 1.0)
            new.append(g * prev + (1.0 - g) * F.relu(current))
        return new[0], tuple(new)


class Network(nn.Module):
    def __init__(self, family: str = "standard", steps: int = 4, classes: int = 10):
        super().__init__()
        self.steps = steps
        self.ff = nn.ModuleList()
        c_in = 3
        for c in (16, 32):
            self.ff.append(nn.ModuleList([nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                                          nn.BatchNorm2d(c)]))
            c_in = c
        pn, inter = (64, 128), (16, 32)
        if family == "standard":
            self.cells = nn.ModuleList([StandardCell(32, pn[0], inter[0], inter[0], steps),
                                        StandardCell(pn[0], pn[1], inter[1], inter[1], steps)])
        else:
            self.cells = nn.ModuleList([StandardEICell(32, pn[0], inter[0], steps),
                                        StandardEICell(pn[0], pn[1], inter[1], steps)])
        self.readout = nn.Linear(pn[1], classes)

    def forward(self, images):
        x = images.float()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1.0 / (x[0].numel() ** 0.5))
        x = (x - mean) / std
        for (conv, norm), stride in zip(self.ff, (1, 2)):
            x = F.max_pool2d(F.relu(norm(conv(x))), 3, stride, padding=1)
        sequence = [x] * self.steps
        for cell in self.cells:
            state, outputs = cell.zero_state(sequence[0]), []
            for t, x_t in enumerate(sequence):
                pn, state = cell(x_t, state, t)
                outputs.append(pn)
            sequence = [F.max_pool2d(o, 3, 2, padding=1) for o in outputs]
        return self.readout(sequence[-1].mean(dim=(2, 3)))


def trainer(family: str, batch_size: int = 128, weight_decay: float = 2e-4):
    """A function running one SGD training step of the network on a fixed random batch."""
    torch.manual_seed(0)
    model = Network(family).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=weight_decay)
    images = torch.randint(0, 256, (batch_size, 3, 32, 32)).float().contiguous(
        memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        return loss.detach().item()

    return step
