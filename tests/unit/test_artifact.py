import hashlib
import json
import tarfile

from inference_image.spec import ModelSpec
from package.artifact import pack_model, stage_model_dir


def test_model_folder_has_files_and_a_spec_the_server_reads(manifest, tmp_path):
    folder = stage_model_dir(manifest, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["featurizer.joblib", "mpkit-model.json", "xgboost-model.ubj"]
    spec = ModelSpec.read(folder)
    assert spec.framework == "pipeline" and spec.names[1] == "sex" and len(spec.check_rows) == 32
    assert json.loads((folder / "mpkit-model.json").read_text())["files"] == {"featurizer": "featurizer.joblib", "predictor": "xgboost-model.ubj"}


def test_model_tar_is_reproducible_and_rooted(manifest, tmp_path):
    first = pack_model(stage_model_dir(manifest, tmp_path / "a"), tmp_path / "a.tar.gz")
    second = pack_model(stage_model_dir(manifest, tmp_path / "b"), tmp_path / "b.tar.gz")
    assert first == second == hashlib.sha256((tmp_path / "b.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["featurizer.joblib", "mpkit-model.json", "xgboost-model.ubj"]
    assert all(m.mtime == 0 and m.uid == 0 and m.isfile() for m in members)
