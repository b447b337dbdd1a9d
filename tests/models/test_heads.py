import torch

from rtsgeo.models.heads import (
    DenseSegmentationHead,
    dense_segmentation_loss,
    rescore_by_dense_probability,
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


def _two_detections() -> dict[str, torch.Tensor]:
    masks = torch.zeros(2, 1, 16, 16)
    masks[0, 0, 0:4, 0:4] = 0.9  # over background
    masks[1, 0, 8:12, 8:12] = 0.9  # over the slump
    return {
        'boxes': torch.tensor([[0.0, 0.0, 4.0, 4.0], [8.0, 8.0, 12.0, 12.0]]),
        'scores': torch.tensor([0.6, 0.3]),
        'labels': torch.tensor([1, 1]),
        'masks': masks,
    }


def test_dense_rescoring_ranks_by_the_probability_under_the_mask() -> None:
    probability = torch.full((16, 16), 0.01)
    probability[8:12, 8:12] = 0.81
    result = rescore_by_dense_probability(_two_detections(), probability, 0.5)
    # sqrt(0.3 * 0.81) = 0.493 beats sqrt(0.6 * 0.01) = 0.077: the order flips
    assert result['boxes'][0].tolist() == [8.0, 8.0, 12.0, 12.0]
    assert torch.allclose(result['scores'], torch.tensor([0.493, 0.0775]), atol=1e-3)
    assert result['masks'][0, 0, 9, 9] == 0.9
    kept = rescore_by_dense_probability(_two_detections(), probability, 0.0)
    assert torch.equal(kept['scores'], torch.tensor([0.6, 0.3]))
    alone = rescore_by_dense_probability(_two_detections(), probability, 1.0)
    assert torch.allclose(alone['scores'], torch.tensor([0.81, 0.01]))


def test_dense_rescoring_of_no_detection() -> None:
    empty = {
        'boxes': torch.zeros(0, 4),
        'scores': torch.zeros(0),
        'labels': torch.zeros(0, dtype=torch.int64),
        'masks': torch.zeros(0, 1, 16, 16),
    }
    result = rescore_by_dense_probability(empty, torch.rand(16, 16), 0.5)
    assert len(result['scores']) == 0
