import torch

from rtsgeo.models.heads import (
    DenseSegmentationHead,
    dense_segmentation_loss,
    select_detections,
)


def test_select_detections_drops_slivers() -> None:
    boxes = torch.tensor([[0.0, 126.0, 2.4, 126.1], [10.0, 10.0, 20.0, 30.0]])
    scores = torch.tensor([[0.55, 0.45], [0.7, 0.3]])
    kept, kept_scores, _ = select_detections(boxes, scores, 0.05, 0.5, 100, 1.0)
    assert kept.tolist() == [[10.0, 10.0, 20.0, 30.0]]
    assert torch.allclose(kept_scores, torch.tensor([0.3]))
    kept, _, _ = select_detections(boxes, scores, 0.05, 0.5, 100, 0.0)
    assert len(kept) == 2


def test_dense_head_output_size() -> None:
    head = DenseSegmentationHead(8)
    logits = head(torch.randn(2, 8, 16, 16), (64, 64))
    assert logits.shape == (2, 1, 64, 64)


def test_dense_loss_rewards_the_right_pixels() -> None:
    masks = torch.zeros(2, 32, 32, dtype=torch.uint8)
    masks[0, 4:9, 4:9] = 1
    masks[1, 20:23, 10:14] = 1
    targets = [{'masks': masks}, {'masks': torch.zeros(0, 32, 32, dtype=torch.uint8)}]
    truth = torch.zeros(2, 1, 32, 32)
    truth[0, 0] = masks.amax(0)
    right = dense_segmentation_loss((truth * 2 - 1) * 8, targets)
    background = dense_segmentation_loss(torch.full((2, 1, 32, 32), -8.0), targets)
    wrong = dense_segmentation_loss((1 - truth * 2) * 8, targets)
    assert right < 0.01
    assert right < background < wrong
    assert background > 0.9  # Dice does not let all-background pass
