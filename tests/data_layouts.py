"""Write a generated VOC data set again in the YOLO and COCO layouts, as Ultralytics, Roboflow and COCO lay them out.

The images are the generated set's own (copied); the labels are written from its VOC
annotations, so every layout holds the same objects and the readers can be compared.
"""

import json
import shutil
from pathlib import Path

from bcn.data.voc import load_voc, read_class_names

# bcn split -> the name each layout gives it.
YOLO_SPLITS = {"train": "train", "val": "val", "test": "test"}
ROBOFLOW_SPLITS = {"train": "train", "val": "valid", "test": "test"}
COCO_SPLITS = {"train": "train2017", "val": "val2017", "test": "test2017"}


def write_yolo(voc_root: Path, out: Path, roboflow: bool = False) -> Path:
    """Ultralytics layout (images/<split>, labels/<split>, names as a map) or Roboflow's
    (<split>/images, <split>/labels, `../` paths, names as a list)."""
    names = list(read_class_names([voc_root]))
    splits = ROBOFLOW_SPLITS if roboflow else YOLO_SPLITS
    for split, folder in splits.items():
        images = out / folder / "images" if roboflow else out / "images" / folder
        labels = images.parent / "labels" if roboflow else out / "labels" / folder
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for sample in load_voc(voc_root, split, names):
            shutil.copy(sample.image_path, images / sample.image_path.name)
            lines = []
            for (x1, y1, x2, y2), class_id in zip(sample.boxes, sample.classes):
                cx, cy = (x1 + x2) / 2 / sample.width, (y1 + y2) / 2 / sample.height
                w, h = (x2 - x1) / sample.width, (y2 - y1) / sample.height
                lines.append(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
            (labels / f"{sample.image_path.stem}.txt").write_text("".join(lines))
    if roboflow:
        yaml = "".join(f"{key}: ../{folder}/images\n" for key, folder in zip(("train", "val", "test"), splits.values()))
        yaml += f"nc: {len(names)}\nnames: {json.dumps(names)}\n"
    else:
        yaml = f"path: {out}\n" + "".join(f"{split}: images/{folder}\n" for split, folder in splits.items())
        yaml += "names:\n" + "".join(f"  {index}: {name}\n" for index, name in enumerate(names))
    (out / "data.yaml").write_text(yaml)
    return out


def write_coco(voc_root: Path, out: Path, roboflow: bool = False) -> Path:
    """COCO layout (annotations/instances_<split>.json, images in <split>/) or Roboflow's
    (<split>/_annotations.coco.json beside the images, plus its supercategory-only category 0)."""
    names = list(read_class_names([voc_root]))
    categories = [{"id": index + 1, "name": name, "supercategory": "shapes"} for index, name in enumerate(names)]
    if roboflow:
        categories.insert(0, {"id": 0, "name": "shapes", "supercategory": "none"})
    splits = ROBOFLOW_SPLITS if roboflow else COCO_SPLITS
    if not roboflow:
        (out / "annotations").mkdir(parents=True)
    annotation_id = 1
    for split, folder in splits.items():
        (out / folder).mkdir(parents=True)
        images, annotations = [], []
        for sample in load_voc(voc_root, split, names):
            shutil.copy(sample.image_path, out / folder / sample.image_path.name)
            image_id = int(sample.image_id)
            images.append(
                {"id": image_id, "file_name": sample.image_path.name, "width": sample.width, "height": sample.height}
            )
            for (x1, y1, x2, y2), class_id, hard in zip(sample.boxes, sample.classes, sample.difficult):
                annotations.append(
                    {
                        "id": annotation_id,
                        "image_id": image_id,
                        "category_id": int(class_id) + 1,
                        "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                        "area": float((x2 - x1) * (y2 - y1)),
                        "iscrowd": int(hard),
                    }
                )
                annotation_id += 1
        document = {"images": images, "annotations": annotations, "categories": categories}
        path = out / folder / "_annotations.coco.json" if roboflow else out / "annotations" / f"instances_{folder}.json"
        path.write_text(json.dumps(document, indent=1))
    return out
