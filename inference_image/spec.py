"""The model's own description (contract.MODEL_SPEC_FILE), which travels with the model files.

`mpkit build` writes it from the manifest into the model folder through `ModelSpec.to_json`, so
it is baked into the image or packed into model.tar.gz with the files it describes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from .contract import MODEL_SPEC_FILE, SPEC_FORMAT

FRAMEWORKS = ("xgboost", "sklearn", "pipeline", "custom")
NUMBER = "number"
STRING = "string"
ANSWERS = ("labels", "probabilities", "both")  # what a classifier answers


@dataclass(frozen=True)
class Feature:
    name: str
    type: str = NUMBER
    required: bool = True
    categories: tuple = ()  # a string feature's declared values; others are refused...
    allow_unknown: bool = False  # ...unless the seller lets the model's encoder decide


def _feature_dict(feature: Feature) -> dict:
    data = {"name": feature.name, "type": feature.type, "required": feature.required}
    if feature.categories:
        data["categories"] = list(feature.categories)
        data["allow_unknown"] = feature.allow_unknown
    return data


@dataclass(frozen=True)
class ModelSpec:
    framework: str
    files: dict
    features: tuple
    handler: str | None = None
    output_name: str = "prediction"
    check_rows: tuple = ()
    # A classifier answers labels, probabilities by class name, or both; classes name the model's
    # class indexes (scikit-learn models name their own; XGBoost boosters need them declared).
    classifier: bool = False
    answer: str = "labels"
    classes: tuple = ()

    # Read on every request: computed once per spec (a changed spec is a new object).
    @functools.cached_property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @functools.cached_property
    def numeric_index(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.type == NUMBER]

    @functools.cached_property
    def string_index(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.type == STRING]

    @functools.cached_property
    def required_numeric(self) -> tuple:
        return tuple(self.features[j].required for j in self.numeric_index)

    @functools.cached_property
    def required_strings(self) -> tuple:
        return tuple(self.features[j].required for j in self.string_index)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        framework = data.get("framework")
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework {framework!r} is not one of {FRAMEWORKS}")
        output = data.get("output") or {}
        answer = output.get("answer", "labels")
        if answer not in ANSWERS:
            raise ValueError(f"output.answer {answer!r} is not one of {ANSWERS}")
        features = []
        for item in data.get("features") or []:
            kind = item.get("type", NUMBER)
            if kind not in (NUMBER, STRING):
                raise ValueError(f"feature {item.get('name')!r}: type {kind!r} is neither number nor string")
            features.append(Feature(name=str(item["name"]), type=kind, required=bool(item.get("required", True)),
                                    categories=tuple(str(c) for c in item.get("categories") or ()),
                                    allow_unknown=bool(item.get("allow_unknown", False))))
        return cls(
            framework=framework,
            files=dict(data.get("files") or {}),
            features=tuple(features),
            handler=data.get("handler"),
            output_name=output.get("name", "prediction"),
            check_rows=tuple(tuple(r) for r in data.get("check_rows") or ()),
            classifier=output.get("task") == "classification",
            answer=answer,
            classes=tuple(str(c) for c in output.get("classes") or ()),
        )

    def to_dict(self) -> dict:
        data = {
            "format": SPEC_FORMAT,
            "framework": self.framework,
            "files": dict(self.files),
            "features": [_feature_dict(f) for f in self.features],
            "output": {"name": self.output_name},
        }
        if self.classifier:
            data["output"].update(task="classification", answer=self.answer)
            if self.classes:
                data["output"]["classes"] = list(self.classes)
        if self.handler:
            data["handler"] = self.handler
        if self.check_rows:
            data["check_rows"] = [list(row) for row in self.check_rows]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def read(cls, model_dir: str | Path) -> "ModelSpec":
        path = Path(model_dir) / MODEL_SPEC_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the model folder holds no {MODEL_SPEC_FILE}. Bake the model into the image "
                "or give SageMaker a model.tar.gz built by `mpkit build`."
            )
        return cls.from_dict(json.loads(path.read_text()))

    def with_features(self, features: tuple) -> "ModelSpec":
        return dataclasses.replace(self, features=features)

    def with_classes(self, classes: tuple) -> "ModelSpec":
        return dataclasses.replace(self, classes=tuple(str(c) for c in classes))
