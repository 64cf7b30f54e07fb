"""The non-audio example (`experiment=digits`): proof that the runner trains any LightningModule.

`model=digits_mlp` is `digits.model.DigitsClassifier`, `dataset=digits` is `digits.data.DigitsDataModule`.
"""
