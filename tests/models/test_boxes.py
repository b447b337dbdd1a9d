import torch
from torchvision.ops import box_iou

from rtsgeo.models.boxes import jitter_boxes
from rtsgeo.models.heads import select_detections

BOXES = torch.tensor([[10.0, 12.0, 18.0, 19.0], [40.0, 40.0, 70.0, 52.0]])


def test_jittered_copies_stay_near_their_box() -> None:
    g = torch.Generator().manual_seed(0)
    copies = jitter_boxes(BOXES, 50, 0.15, (64, 64), generator=g)
    assert copies.shape == (100, 4)
    iou = box_iou(BOXES, copies)
    own = torch.cat([iou[0, :50], iou[1, 50:]])
    assert own.min() > 0.4
    assert (own >= 0.5).float().mean() > 0.8
    assert own.max() < 1.0  # jittered, not copies of the box
    assert (copies[:, 2:] > copies[:, :2]).all()


def test_jitter_is_clipped_to_the_image() -> None:
    g = torch.Generator().manual_seed(1)
    copies = jitter_boxes(BOXES, 50, 0.5, (64, 64), generator=g)
    assert copies[:, 0::2].min() >= 0 and copies[:, 0::2].max() <= 64
    assert copies[:, 1::2].min() >= 0 and copies[:, 1::2].max() <= 64
    assert (copies[50:, 2] == 64).any()  # the second box's copies reach the edge


def test_jitter_amount_zero_gives_the_boxes() -> None:
    copies = jitter_boxes(BOXES, 3, 0.0, (128, 128))
    assert torch.allclose(copies, BOXES.repeat_interleave(3, dim=0))


def test_no_copies_or_no_boxes_give_nothing() -> None:
    assert jitter_boxes(BOXES, 0, 0.15, (64, 64)).shape == (0, 4)
    assert jitter_boxes(torch.zeros(0, 4), 8, 0.15, (64, 64)).shape == (0, 4)


def test_degenerate_boxes_are_dropped() -> None:
    boxes = torch.tensor(
        [
            [0.0, 126.0, 2.4, 126.1],  # the 2.4 x 0.1 px sliver seen on tile edges
            [3.0, 3.0, 4.0, 4.0],  # one pixel: kept
            [5.0, 5.0, 5.5, 9.0],  # half a pixel wide
            [10.0, 10.0, 20.0, 30.0],
        ]
    )
    # Scores fall with the index, so the kept boxes come out in input order.
    scores = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])

    def kept(min_size: float) -> list[int]:
        found, _, _ = select_detections(boxes, scores, 0.05, 0.5, 100, min_size)
        return [boxes.tolist().index(b) for b in found.tolist()]

    assert kept(1.0) == [1, 3]
    assert kept(0.05) == [0, 1, 2, 3]
