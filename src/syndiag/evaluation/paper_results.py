"""The paper's reported numbers, stored as data with the table they come from (arXiv 2510.05733)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperResult:
    table: str
    method: str
    condition: str
    k: int
    accuracy: float
    precision: float
    f1: float


TABLE1_CWRU_SAME_CONDITION = [
    PaperResult("Table 1", method, condition, k, acc, prec, f1)
    for method, condition, k, acc, prec, f1 in (
        ("CNN", "1730rpm", 1, 0.786, 0.8166, 0.779),
        ("CNN", "1750rpm", 1, 0.8308, 0.8376, 0.8313),
        ("CNN", "1772rpm", 1, 0.7193, 0.7523, 0.7179),
        ("CNN", "1797rpm", 1, 0.7246, 0.7401, 0.7214),
        ("CNN", "1730rpm", 3, 0.8591, 0.8674, 0.8583),
        ("CNN", "1750rpm", 3, 0.8074, 0.8096, 0.8044),
        ("CNN", "1772rpm", 3, 0.7684, 0.7913, 0.762),
        ("CNN", "1797rpm", 3, 0.7876, 0.8076, 0.784),
        ("CNN", "1730rpm", 5, 0.8591, 0.8688, 0.8582),
        ("CNN", "1750rpm", 5, 0.825, 0.8363, 0.8202),
        ("CNN", "1772rpm", 5, 0.8362, 0.8417, 0.8326),
        ("CNN", "1797rpm", 5, 0.7395, 0.7678, 0.732),
        ("CNN", "1730rpm", 7, 0.8906, 0.8981, 0.8874),
        ("CNN", "1750rpm", 7, 0.8767, 0.8866, 0.8754),
        ("CNN", "1772rpm", 7, 0.8335, 0.8577, 0.8328),
        ("CNN", "1797rpm", 7, 0.8447, 0.8566, 0.8457),
        ("ViT", "1730rpm", 1, 0.5539, 0.6149, 0.55),
        ("ViT", "1750rpm", 1, 0.3367, 0.3966, 0.3085),
        ("ViT", "1772rpm", 1, 0.5245, 0.5402, 0.5099),
        ("ViT", "1797rpm", 1, 0.5181, 0.5586, 0.5175),
        ("ViT", "1730rpm", 3, 0.6297, 0.6748, 0.6077),
        ("ViT", "1750rpm", 3, 0.4605, 0.4532, 0.4271),
        ("ViT", "1772rpm", 3, 0.5523, 0.5656, 0.5283),
        ("ViT", "1797rpm", 3, 0.5672, 0.5829, 0.5619),
        ("ViT", "1730rpm", 5, 0.5907, 0.6486, 0.5678),
        ("ViT", "1750rpm", 5, 0.5608, 0.5913, 0.5332),
        ("ViT", "1772rpm", 5, 0.5112, 0.5484, 0.4814),
        ("ViT", "1797rpm", 5, 0.5378, 0.6068, 0.541),
        ("ViT", "1730rpm", 7, 0.6638, 0.7126, 0.6646),
        ("ViT", "1750rpm", 7, 0.564, 0.6119, 0.5543),
        ("ViT", "1772rpm", 7, 0.627, 0.6432, 0.6145),
        ("ViT", "1797rpm", 7, 0.6259, 0.6633, 0.6239),
        ("Resnet50", "1730rpm", 1, 0.6884, 0.7965, 0.6831),
        ("Resnet50", "1750rpm", 1, 0.3821, 0.5187, 0.3147),
        ("Resnet50", "1772rpm", 1, 0.738, 0.8133, 0.7178),
        ("Resnet50", "1797rpm", 1, 0.8106, 0.8306, 0.801),
        ("Resnet50", "1730rpm", 3, 0.707, 0.7639, 0.6831),
        ("Resnet50", "1750rpm", 3, 0.8773, 0.8921, 0.8736),
        ("Resnet50", "1772rpm", 3, 0.8741, 0.894, 0.8626),
        ("Resnet50", "1797rpm", 3, 0.7311, 0.7852, 0.6976),
        ("Resnet50", "1730rpm", 5, 0.8602, 0.8795, 0.8575),
        ("Resnet50", "1750rpm", 5, 0.7215, 0.7977, 0.7139),
        ("Resnet50", "1772rpm", 5, 0.6676, 0.76, 0.6171),
        ("Resnet50", "1797rpm", 5, 0.7054, 0.7632, 0.6876),
        ("Resnet50", "1730rpm", 7, 0.8709, 0.869, 0.8568),
        ("Resnet50", "1750rpm", 7, 0.9146, 0.926, 0.9134),
        ("Resnet50", "1772rpm", 7, 0.8591, 0.8567, 0.8362),
        ("Resnet50", "1797rpm", 7, 0.905, 0.9146, 0.9058),
        ("Syn-Diag-Cloud", "1730rpm", 1, 0.9809, 0.9815, 0.981),
        ("Syn-Diag-Cloud", "1750rpm", 1, 0.9722, 0.974, 0.9723),
        ("Syn-Diag-Cloud", "1772rpm", 1, 0.9635, 0.9664, 0.963),
        ("Syn-Diag-Cloud", "1797rpm", 1, 0.9395, 0.9478, 0.9391),
        ("Syn-Diag-Cloud", "1730rpm", 3, 0.9869, 0.9871, 0.9869),
        ("Syn-Diag-Cloud", "1750rpm", 3, 0.9869, 0.9877, 0.9869),
        ("Syn-Diag-Cloud", "1772rpm", 3, 0.9771, 0.9783, 0.977),
        ("Syn-Diag-Cloud", "1797rpm", 3, 0.9722, 0.9745, 0.9721),
        ("Syn-Diag-Cloud", "1730rpm", 5, 0.988, 0.9883, 0.988),
        ("Syn-Diag-Cloud", "1750rpm", 5, 0.9924, 0.9925, 0.9924),
        ("Syn-Diag-Cloud", "1772rpm", 5, 0.9755, 0.976, 0.9753),
        ("Syn-Diag-Cloud", "1797rpm", 5, 0.9733, 0.9765, 0.9729),
        ("Syn-Diag-Cloud", "1730rpm", 7, 0.9847, 0.9848, 0.9847),
        ("Syn-Diag-Cloud", "1750rpm", 7, 0.9924, 0.9925, 0.9924),
        ("Syn-Diag-Cloud", "1772rpm", 7, 0.9826, 0.9831, 0.9825),
        ("Syn-Diag-Cloud", "1797rpm", 7, 0.9766, 0.9777, 0.9765),
        ("Syn-Diag-Edge", "1730rpm", 1, 0.9716, 0.9733, 0.9716),
        ("Syn-Diag-Edge", "1750rpm", 1, 0.9079, 0.9384, 0.9026),
        ("Syn-Diag-Edge", "1772rpm", 1, 0.9564, 0.9594, 0.9557),
        ("Syn-Diag-Edge", "1797rpm", 1, 0.9264, 0.9354, 0.9257),
        ("Syn-Diag-Edge", "1730rpm", 3, 0.9858, 0.9861, 0.9858),
        ("Syn-Diag-Edge", "1750rpm", 3, 0.9771, 0.98, 0.9772),
        ("Syn-Diag-Edge", "1772rpm", 3, 0.9727, 0.9742, 0.9727),
        ("Syn-Diag-Edge", "1797rpm", 3, 0.9776, 0.9784, 0.9775),
        ("Syn-Diag-Edge", "1730rpm", 5, 0.988, 0.9883, 0.988),
        ("Syn-Diag-Edge", "1750rpm", 5, 0.994, 0.9941, 0.994),
        ("Syn-Diag-Edge", "1772rpm", 5, 0.9782, 0.9788, 0.9781),
        ("Syn-Diag-Edge", "1797rpm", 5, 0.9776, 0.9795, 0.9774),
        ("Syn-Diag-Edge", "1730rpm", 7, 0.9875, 0.9876, 0.9874),
        ("Syn-Diag-Edge", "1750rpm", 7, 0.9945, 0.9946, 0.9945),
        ("Syn-Diag-Edge", "1772rpm", 7, 0.9847, 0.9853, 0.9847),
        ("Syn-Diag-Edge", "1797rpm", 7, 0.9815, 0.9824, 0.9814),
    )
]


def paper_result(method: str, condition: str, k: int, table: list[PaperResult] = TABLE1_CWRU_SAME_CONDITION) -> PaperResult | None:
    """The paper's number for ``method`` at ``condition`` and ``k`` shots, if it reports one."""
    for row in table:
        if row.method == method and row.condition == condition and row.k == k:
            return row
    return None
