from collections import OrderedDict

import pytest
import torch

from rtsgeo.models.cascade import CascadeRoIHeads

SIZE = 128


def features() -> OrderedDict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return OrderedDict(
        (
            f'p{level}',
            torch.randn(1, 8, SIZE // 2**level, SIZE // 2**level, generator=g),
        )
        for level in (2, 3, 4, 5)
    )


def random_proposals(count: int) -> torch.Tensor:
    """Boxes of 4-48 px anywhere, as a young RPN proposes them."""
    g = torch.Generator().manual_seed(1)
    corners = torch.rand(count, 2, generator=g) * (SIZE - 48)
    sides = 4 + torch.rand(count, 2, generator=g) * 44
    return torch.cat([corners, corners + sides], dim=1)


def tiny_slumps() -> dict[str, torch.Tensor]:
    boxes = torch.tensor([[30.0, 40.0, 37.0, 46.0], [90.0, 20.0, 96.0, 29.0]])
    masks = torch.zeros(2, SIZE, SIZE, dtype=torch.uint8)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
        mask[y0:y1, x0:x1] = 1
    return {'boxes': boxes, 'labels': torch.ones(2, dtype=torch.int64), 'masks': masks}


def positive_share(copies: int, stages: int = 1) -> float:
    """Share of positives among the RoIs the first stage samples."""
    torch.manual_seed(0)
    heads = CascadeRoIHeads(
        8, 2, ious=(0.5, 0.6, 0.7)[:stages], loss_weights=(1.0,) * stages,
        box_head='2fc', fc_dim=16, jitter_copies=copies,
    )  # fmt: skip
    sampler, seen = heads.sampler, []

    def recording(labels: list[torch.Tensor]) -> tuple[list, list]:
        positive, negative = sampler(labels)
        seen.append((positive[0].sum().item(), negative[0].sum().item()))
        return positive, negative

    heads.sampler = recording  # type: ignore[assignment]
    heads.train()
    _, losses = heads(
        features(), [random_proposals(2000)], [(SIZE, SIZE)], [tiny_slumps()]
    )
    assert all(torch.isfinite(v) for v in losses.values())
    positives, negatives = seen[0]
    return positives / (positives + negatives)


def test_jittered_proposals_raise_the_positive_share() -> None:
    plain = positive_share(0)
    jittered = positive_share(32)
    # Without jitter the two slumps get a handful of positives among 512 RoIs.
    assert plain < 0.02
    assert jittered > 0.1
    assert positive_share(32, stages=3) == pytest.approx(jittered)


def test_jitter_adds_nothing_at_inference() -> None:
    heads = CascadeRoIHeads(8, 2, ious=(0.5,), box_head='2fc', fc_dim=16,
                            jitter_copies=32).eval()  # fmt: skip
    with torch.no_grad():
        detections, losses = heads(features(), [random_proposals(50)], [(SIZE, SIZE)])
    assert losses == {}
    assert len(detections[0]['boxes']) <= 50
