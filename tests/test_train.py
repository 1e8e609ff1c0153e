"""taskdist.nets.optim.Adam against torch.optim.Adam, and what a training job imports."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from taskdist.nets import train
from taskdist.nets.optim import Adam


def _run(make_opt, weight_decay, freeze_every):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = make_opt(net.parameters(), weight_decay)
    gen = torch.Generator().manual_seed(1)
    for k in range(25):
        x, y = torch.randn(16, 5, generator=gen), torch.randint(0, 3, (16,), generator=gen)
        net[2].bias.requires_grad_(k % freeze_every != 0)  # some steps without a gradient for one parameter
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_is_torchs_adam_bit_for_bit(weight_decay):
    ours = _run(lambda p, wd: Adam(p, lr=0.01, weight_decay=wd), weight_decay, freeze_every=3)
    theirs = _run(lambda p, wd: torch.optim.Adam(p, lr=0.01, weight_decay=wd), weight_decay, freeze_every=3)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_adam_rejects_bad_settings():
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="betas"):
        Adam([torch.zeros(1, requires_grad=True)], betas=(0.9, 1.0))


def test_training_does_not_import_the_compiler():
    """The point of taskdist.nets.optim: a job that trains stays clear of torch._dynamo's multi-second import."""
    code = (
        "import sys, torch; from taskdist.nets import train, models; from taskdist.config import ArchSpec\n"
        "net = models.build(ArchSpec(widths=(4,), convs_per_stage=1, pool=2, hidden=8), 1, 3, seed=0)\n"
        "x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,))\n"
        "train.fit(net, x, y, epochs=2, batch_size=8, lr=0.01, seed=0)\n"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _noisy_task(seed=0, n=60):
    """Few examples with random labels: a network overfits them, so the held-out loss turns up early."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))


def test_early_stopping_stops_on_patience_and_keeps_the_best_epoch():
    x, y = _noisy_task()
    held = _noisy_task(seed=1, n=40)
    net = _mlp()
    stopped = train.fit_early_stopping(net, x, y, held, max_epochs=200, patience=4, batch_size=16, lr=0.01, seed=0)
    losses = [h["held_out_loss"] for h in stopped.history]
    assert stopped.reason == "patience" and stopped.epochs == stopped.best_epoch + 4 < 200
    assert stopped.best_epoch == 0 or losses[stopped.best_epoch - 1] == min(losses) == stopped.best_loss
    assert train.evaluate(net, *held).loss == pytest.approx(min([train.evaluate(_mlp(), *held).loss, *losses]))
    assert all(0 <= h["train_accuracy"] <= 1 for h in stopped.history)


def test_a_fixed_schedule_trains_every_epoch_and_keeps_the_last():
    x, y = _noisy_task()
    held = _noisy_task(seed=1, n=40)
    net = _mlp()
    stopped = train.fit_early_stopping(net, x, y, held, max_epochs=7, patience=None, batch_size=16, lr=0.01, seed=0)
    assert (stopped.reason, stopped.epochs, stopped.best_epoch) == ("fixed", 7, 7)
    assert train.evaluate(net, *held).loss == pytest.approx(stopped.history[-1]["held_out_loss"])
    with pytest.raises(ValueError, match="patience"):
        train.fit_early_stopping(net, x, y, held, max_epochs=7, patience=0, batch_size=16, lr=0.01, seed=0)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_the_small_cnn_pools_before_its_last_relu_with_the_same_values_and_gradients_bit_for_bit(memory_format):
    """ConvBody runs each stage's last ReLU after the max pool; the plain order (conv, ReLU, pool) gives the same
    bits, ties at positive values (constant image regions) and all-negative windows included."""
    from taskdist.nets.models import ConvBody
    from taskdist.specs import ArchSpec

    torch.manual_seed(0)
    body = ConvBody(ArchSpec(widths=(4, 6), convs_per_stage=2, pool=2, hidden=5), 1)
    plain = nn.Sequential(*[m for m in body.features if not isinstance(m, nn.MaxPool2d)])
    stages, layers = [], []
    for m in plain:  # the plain order: every stage's pool after its last ReLU
        layers.append(m)
        if isinstance(m, nn.ReLU) and len([x for x in layers if isinstance(x, nn.Conv2d)]) == 2:
            stages += [*layers, nn.MaxPool2d(2)]
            layers = []
    reference = nn.Sequential(*stages)
    assert [type(m) for m in reference][:5] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert [n for n, _ in body.features.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias", "7.weight", "7.bias"]
    x = torch.randn(5, 1, 12, 12)
    x[:, :, :6, :6] = 0.0  # constant patches: equal conv outputs, ties in the pool windows
    x = x.contiguous(memory_format=memory_format)
    body.to(memory_format=memory_format)
    out = {}
    for name, net in (("ours", body.features), ("plain", reference)):
        net.zero_grad()
        y = net(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        out[name] = (y.detach(), [p.grad.clone() for p in net.parameters()])
    assert torch.equal(out["ours"][0], out["plain"][0])
    for a, b in zip(out["ours"][1], out["plain"][1], strict=True):
        assert torch.equal(a, b)
