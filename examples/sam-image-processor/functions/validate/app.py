"""ValidateImage: is the uploaded object an image we can process?

Reads the object with boto3 and opens it with Pillow. An image that is not
valid is a result ({"isValid": false, ...}), not an error, so the state
machine's Choice decides what happens to it.
"""
import io
import os

import boto3
from PIL import Image, UnidentifiedImageError

s3 = boto3.client("s3")
ALLOWED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "TIFF": "tiff"}
MAX_PIXELS = 100_000_000


def lambda_handler(event, context):
    bucket = event.get("bucket", os.environ.get("PHOTOS_BUCKET"))
    key = event["key"]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        with Image.open(io.BytesIO(body)) as img:
            fmt = ALLOWED_FORMATS.get(img.format)
            if fmt is None:
                return {"isValid": False, "error": "Image.Unsupported", "reason": "format %s" % img.format}
            width, height = img.size
            if width * height > MAX_PIXELS:
                return {"isValid": False, "error": "Image.TooLarge", "reason": "%dx%d" % (width, height)}
            img.load()  # decode every pixel: a truncated file fails here
            return {
                "isValid": True,
                "metadata": {
                    "format": fmt,
                    "width": width,
                    "height": height,
                    "bands": len(img.getbands()),
                    "hasAlpha": "A" in img.getbands(),
                    "size": len(body),
                },
            }
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        return {"isValid": False, "error": "Image.Invalid", "reason": "image data is corrupt or truncated: %s" % e}
