"""ResizeImage: a thumbnail of the uploaded photo, next to it in the bucket.

get_object, Pillow's thumbnail (fit inside the box, aspect kept, never
enlarged), put_object under OUTPUT_PREFIX. Returns where it wrote and what.
"""
import io
import os
import posixpath

import boto3
from PIL import Image

s3 = boto3.client("s3")
OUTPUT_PREFIX = os.environ.get("OUTPUT_PREFIX", "processed")
FORMATS = {"jpeg": ("JPEG", "jpg", "image/jpeg"), "png": ("PNG", "png", "image/png"),
           "webp": ("WEBP", "webp", "image/webp")}


def lambda_handler(event, context):
    bucket = event["bucket"]
    key = event["key"]
    width = int(event.get("width", 320))
    height = int(event.get("height", width))
    pil_format, ext, content_type = FORMATS[event.get("format", "jpeg")]

    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(body)) as img:
        img.draft("RGB", (width, height))  # JPEG: decode at a reduced scale
        img = img.convert("RGB")
        img.thumbnail((width, height), Image.LANCZOS)
        out = io.BytesIO()
        img.save(out, pil_format, quality=85)
        w, h = img.size

    stem = posixpath.splitext(key)[0]
    out_key = "%s/%s.%dx%d.%s" % (OUTPUT_PREFIX, stem, width, height, ext)
    s3.put_object(Bucket=bucket, Key=out_key, Body=out.getvalue(), ContentType=content_type)
    return {"bucket": bucket, "key": out_key, "width": w, "height": h, "format": event.get("format", "jpeg"),
            "size": out.tell()}
