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


def table(name: str, rows: str) -> list[PaperResult]:
    """The results of one of the paper's tables, one a line: method, condition, shots k, accuracy, precision, F1."""
    found = []
    for line in rows.strip().splitlines():
        method, condition, k, accuracy, precision, f1 = line.split()
        found.append(PaperResult(name, method, condition, int(k), float(accuracy), float(precision), float(f1)))
    return found


TABLE1_CWRU_SAME_CONDITION = table("Table 1", """
CNN            1730rpm 1 0.786 0.8166 0.779
CNN            1750rpm 1 0.8308 0.8376 0.8313
CNN            1772rpm 1 0.7193 0.7523 0.7179
CNN            1797rpm 1 0.7246 0.7401 0.7214
CNN            1730rpm 3 0.8591 0.8674 0.8583
CNN            1750rpm 3 0.8074 0.8096 0.8044
CNN            1772rpm 3 0.7684 0.7913 0.762
CNN            1797rpm 3 0.7876 0.8076 0.784
CNN            1730rpm 5 0.8591 0.8688 0.8582
CNN            1750rpm 5 0.825 0.8363 0.8202
CNN            1772rpm 5 0.8362 0.8417 0.8326
CNN            1797rpm 5 0.7395 0.7678 0.732
CNN            1730rpm 7 0.8906 0.8981 0.8874
CNN            1750rpm 7 0.8767 0.8866 0.8754
CNN            1772rpm 7 0.8335 0.8577 0.8328
CNN            1797rpm 7 0.8447 0.8566 0.8457
ViT            1730rpm 1 0.5539 0.6149 0.55
ViT            1750rpm 1 0.3367 0.3966 0.3085
ViT            1772rpm 1 0.5245 0.5402 0.5099
ViT            1797rpm 1 0.5181 0.5586 0.5175
ViT            1730rpm 3 0.6297 0.6748 0.6077
ViT            1750rpm 3 0.4605 0.4532 0.4271
ViT            1772rpm 3 0.5523 0.5656 0.5283
ViT            1797rpm 3 0.5672 0.5829 0.5619
ViT            1730rpm 5 0.5907 0.6486 0.5678
ViT            1750rpm 5 0.5608 0.5913 0.5332
ViT            1772rpm 5 0.5112 0.5484 0.4814
ViT            1797rpm 5 0.5378 0.6068 0.541
ViT            1730rpm 7 0.6638 0.7126 0.6646
ViT            1750rpm 7 0.564 0.6119 0.5543
ViT            1772rpm 7 0.627 0.6432 0.6145
ViT            1797rpm 7 0.6259 0.6633 0.6239
Resnet50       1730rpm 1 0.6884 0.7965 0.6831
Resnet50       1750rpm 1 0.3821 0.5187 0.3147
Resnet50       1772rpm 1 0.738 0.8133 0.7178
Resnet50       1797rpm 1 0.8106 0.8306 0.801
Resnet50       1730rpm 3 0.707 0.7639 0.6831
Resnet50       1750rpm 3 0.8773 0.8921 0.8736
Resnet50       1772rpm 3 0.8741 0.894 0.8626
Resnet50       1797rpm 3 0.7311 0.7852 0.6976
Resnet50       1730rpm 5 0.8602 0.8795 0.8575
Resnet50       1750rpm 5 0.7215 0.7977 0.7139
Resnet50       1772rpm 5 0.6676 0.76 0.6171
Resnet50       1797rpm 5 0.7054 0.7632 0.6876
Resnet50       1730rpm 7 0.8709 0.869 0.8568
Resnet50       1750rpm 7 0.9146 0.926 0.9134
Resnet50       1772rpm 7 0.8591 0.8567 0.8362
Resnet50       1797rpm 7 0.905 0.9146 0.9058
Syn-Diag-Cloud 1730rpm 1 0.9809 0.9815 0.981
Syn-Diag-Cloud 1750rpm 1 0.9722 0.974 0.9723
Syn-Diag-Cloud 1772rpm 1 0.9635 0.9664 0.963
Syn-Diag-Cloud 1797rpm 1 0.9395 0.9478 0.9391
Syn-Diag-Cloud 1730rpm 3 0.9869 0.9871 0.9869
Syn-Diag-Cloud 1750rpm 3 0.9869 0.9877 0.9869
Syn-Diag-Cloud 1772rpm 3 0.9771 0.9783 0.977
Syn-Diag-Cloud 1797rpm 3 0.9722 0.9745 0.9721
Syn-Diag-Cloud 1730rpm 5 0.988 0.9883 0.988
Syn-Diag-Cloud 1750rpm 5 0.9924 0.9925 0.9924
Syn-Diag-Cloud 1772rpm 5 0.9755 0.976 0.9753
Syn-Diag-Cloud 1797rpm 5 0.9733 0.9765 0.9729
Syn-Diag-Cloud 1730rpm 7 0.9847 0.9848 0.9847
Syn-Diag-Cloud 1750rpm 7 0.9924 0.9925 0.9924
Syn-Diag-Cloud 1772rpm 7 0.9826 0.9831 0.9825
Syn-Diag-Cloud 1797rpm 7 0.9766 0.9777 0.9765
Syn-Diag-Edge  1730rpm 1 0.9716 0.9733 0.9716
Syn-Diag-Edge  1750rpm 1 0.9079 0.9384 0.9026
Syn-Diag-Edge  1772rpm 1 0.9564 0.9594 0.9557
Syn-Diag-Edge  1797rpm 1 0.9264 0.9354 0.9257
Syn-Diag-Edge  1730rpm 3 0.9858 0.9861 0.9858
Syn-Diag-Edge  1750rpm 3 0.9771 0.98 0.9772
Syn-Diag-Edge  1772rpm 3 0.9727 0.9742 0.9727
Syn-Diag-Edge  1797rpm 3 0.9776 0.9784 0.9775
Syn-Diag-Edge  1730rpm 5 0.988 0.9883 0.988
Syn-Diag-Edge  1750rpm 5 0.994 0.9941 0.994
Syn-Diag-Edge  1772rpm 5 0.9782 0.9788 0.9781
Syn-Diag-Edge  1797rpm 5 0.9776 0.9795 0.9774
Syn-Diag-Edge  1730rpm 7 0.9875 0.9876 0.9874
Syn-Diag-Edge  1750rpm 7 0.9945 0.9946 0.9945
Syn-Diag-Edge  1772rpm 7 0.9847 0.9853 0.9847
Syn-Diag-Edge  1797rpm 7 0.9815 0.9824 0.9814
""")


TABLE2_SEU_SAME_CONDITION = table("Table 2", """
CNN            20Hz-0V 1 0.7646 0.8022 0.7612
CNN            30Hz-2V 1 0.4813 0.4257 0.4083
CNN            20Hz-0V 3 0.4188 0.2688 0.3177
CNN            30Hz-2V 3 0.4542 0.3379 0.3544
CNN            20Hz-0V 5 0.6521 0.6269 0.6186
CNN            30Hz-2V 5 0.3396 0.1380 0.1951
CNN            20Hz-0V 7 0.8063 0.8375 0.7937
CNN            30Hz-2V 7 0.3479 0.1404 0.1998
ViT            20Hz-0V 1 0.6458 0.5393 0.5850
ViT            30Hz-2V 1 0.5875 0.5678 0.5622
ViT            20Hz-0V 3 0.4000 0.2025 0.2560
ViT            30Hz-2V 3 0.5000 0.3162 0.3823
ViT            20Hz-0V 5 0.2417 0.1094 0.1431
ViT            30Hz-2V 5 0.4938 0.3414 0.3746
ViT            20Hz-0V 7 0.5479 0.5436 0.4913
ViT            30Hz-2V 7 0.5583 0.5490 0.5476
Resnet50       20Hz-0V 1 0.7833 0.7720 0.7716
Resnet50       30Hz-2V 1 0.5979 0.5717 0.5434
Resnet50       20Hz-0V 3 0.6708 0.5745 0.6030
Resnet50       30Hz-2V 3 0.5667 0.5918 0.5032
Resnet50       20Hz-0V 5 0.7688 0.7746 0.7680
Resnet50       30Hz-2V 5 0.6604 0.7003 0.6131
Resnet50       20Hz-0V 7 0.7896 0.8642 0.7605
Resnet50       30Hz-2V 7 0.8458 0.8538 0.8402
Syn-Diag-Cloud 20Hz-0V 1 0.9167 0.9188 0.9158
Syn-Diag-Cloud 30Hz-2V 1 0.9479 0.9536 0.9487
Syn-Diag-Cloud 20Hz-0V 3 0.9250 0.9257 0.9248
Syn-Diag-Cloud 30Hz-2V 3 0.9646 0.9649 0.9644
Syn-Diag-Cloud 20Hz-0V 5 0.9292 0.9306 0.9286
Syn-Diag-Cloud 30Hz-2V 5 0.9688 0.9694 0.9688
Syn-Diag-Cloud 20Hz-0V 7 0.9417 0.9424 0.9411
Syn-Diag-Cloud 30Hz-2V 7 0.9688 0.9691 0.9687
Syn-Diag-Edge  20Hz-0V 1 0.9271 0.9292 0.9261
Syn-Diag-Edge  30Hz-2V 1 0.9458 0.9479 0.9462
Syn-Diag-Edge  20Hz-0V 3 0.8896 0.8985 0.8911
Syn-Diag-Edge  30Hz-2V 3 0.9604 0.9610 0.9603
Syn-Diag-Edge  20Hz-0V 5 0.9354 0.9365 0.9347
Syn-Diag-Edge  30Hz-2V 5 0.9708 0.9713 0.9709
Syn-Diag-Edge  20Hz-0V 7 0.9396 0.9408 0.9387
Syn-Diag-Edge  30Hz-2V 7 0.9729 0.9731 0.9729
""")


def paper_result(method: str, condition: str, k: int, table: list[PaperResult] = TABLE1_CWRU_SAME_CONDITION) -> PaperResult | None:
    """The paper's number for ``method`` at ``condition`` and ``k`` shots, if it reports one."""
    for row in table:
        if row.method == method and row.condition == condition and row.k == k:
            return row
    return None
