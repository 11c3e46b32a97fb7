"""predict_image on real photos in every awkward format, its errors, and saving/reloading
models. (The upload widget is tested in test_widgets.py.)"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from helpers import list_images
from helpers.inference import ImageError, ImageTransform, load_model, open_image, save_model
from helpers.models import FashionCNN, HorsesHumansCNN

CLASSES = ["horses", "humans"]


@pytest.fixture(scope="module")
def photo_path(real_data):
    return list_images(real_data("horse-or-human/validation") / "humans")[0]


@pytest.fixture(scope="module")
def photo(photo_path):
    return Image.open(photo_path).convert("RGB")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HorsesHumansCNN().eval()


def encode(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_predictions_are_sorted_probabilities_over_both_classes(model, photo_path):
    result = helpers.predict_image(model, photo_path, CLASSES, ImageTransform(150))
    assert sorted(name for name, _ in result) == CLASSES
    assert result[0][1] >= result[1][1]
    assert sum(p for _, p in result) == pytest.approx(1.0, abs=1e-5)


def test_path_bytes_and_pil_give_the_same_answer(model, photo_path, photo):
    transform = ImageTransform(150)
    from_path = helpers.predict_image(model, photo_path, CLASSES, transform)
    from_bytes = helpers.predict_image(model, photo_path.read_bytes(), CLASSES, transform)
    from_pil = helpers.predict_image(model, photo, CLASSES, transform)
    assert from_path == from_bytes
    assert from_path[0][1] == pytest.approx(from_pil[0][1], abs=1e-6)


def test_transform_matches_the_training_pipeline(photo_path):
    """The prediction preprocessing gives the same pixels as load_image_folder + the loader."""
    from helpers.data import read_image_file

    training_pixels = read_image_file(photo_path, 150).float() / 255 * 2 - 1
    predict_pixels = ImageTransform(150)(open_image(photo_path))
    assert torch.allclose(training_pixels, predict_pixels, atol=1e-5)


@pytest.mark.parametrize("make, mode_before", [
    (lambda p: encode(p.resize((900, 900)), "JPEG"), "RGB"),
    (lambda p: encode(p.resize((4000, 3000)), "JPEG"), "RGB"),
    (lambda p: encode(p.convert("RGBA"), "PNG"), "RGBA"),
    (lambda p: encode(p.convert("P"), "PNG"), "P"),
    (lambda p: encode(p.convert("L"), "PNG"), "L"),
    (lambda p: encode(p.convert("CMYK"), "JPEG"), "CMYK"),
    (lambda p: encode(Image.fromarray(np.asarray(p.convert("L")).astype(np.uint16) * 257),
                      "PNG"), "I;16"),
])
def test_real_photo_formats_open_as_rgb(make, mode_before, photo, model):
    data = make(photo)
    assert Image.open(io.BytesIO(data)).mode == mode_before
    picture = open_image(data)
    assert picture.mode == "RGB"
    assert len(helpers.predict_image(model, data, CLASSES, ImageTransform(150))) == 2


def test_sixteen_bit_values_are_scaled_not_clipped(photo):
    grey = np.asarray(photo.convert("L"))
    data = encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG")
    assert np.abs(np.asarray(open_image(data))[..., 0].astype(int) - grey).max() <= 1


def test_transparent_pixels_become_white(photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    assert np.asarray(open_image(encode(rgba, "PNG"))).min() == 255


def test_exif_rotation_is_applied(photo):
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(photo.resize((300, 200)), "JPEG", exif=exif)
    assert open_image(data).size == (200, 300)


def _png_header_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"Dear diary, this is not a photo.", "not an image"),
    (b"<html><body>403 Forbidden</body></html>", "not an image"),
    (None, "truncated"),  # filled in below: the first 2,000 bytes of a real JPEG
    ("bomb", "absurd number of pixels"),
])
def test_unusable_input_raises_one_clear_error(data, message, photo, model):
    if data is None:
        data = encode(photo, "JPEG")[:2000]
    elif data == "bomb":
        tiny = encode(Image.new("L", (1, 1)), "PNG")
        data = _png_header_claiming(100_000, 100_000) + tiny[33:]  # real IDAT and IEND
    with pytest.raises(ImageError, match=message):
        helpers.predict_image(model, data, CLASSES, ImageTransform(150))


def test_missing_file_is_an_image_error(model, tmp_path):
    with pytest.raises(ImageError, match="not a file"):
        helpers.predict_image(model, tmp_path / "nope.jpg", CLASSES, ImageTransform(150))


def test_wrong_number_of_class_names_is_refused(photo_path):
    with pytest.raises(ValueError, match="3 outputs but 2 class names"):
        helpers.predict_image(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3)),
                              photo_path, CLASSES, ImageTransform(32))


def test_a_transform_of_another_size_than_the_model_takes_is_named(model, photo_path):
    with pytest.raises(helpers.TrainingError, match=r"HorsesHumansCNN cannot take these images, "
                                                    r"\[3, 64, 64\].*Give it images of the size"):
        helpers.predict_image(model, photo_path, CLASSES, ImageTransform(64))


def test_topk_limits_a_many_class_answer(photo_path):
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(48, 5))
    result = helpers.predict_image(model, photo_path, list("abcde"), ImageTransform(32), topk=3)
    assert len(result) == 3
    assert [p for _, p in result] == sorted((p for _, p in result), reverse=True)


# --- saving and reloading ----------------------------------------------------------------

GREY_28 = ImageTransform(28, mean=(0.2860,), std=(0.3530,), channels=1)
INCEPTION_75 = ImageTransform(75, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
ROUND_TRIPS = {  # every architecture save_model knows: how to build one, and its input
    "FashionDense": ("FashionDense()", GREY_28, 10),
    "FashionCNN": ("FashionCNN()", GREY_28, 10),
    "HorsesHumansCNN": ("HorsesHumansCNN(dropout=0.5)", ImageTransform(150), 2),
    "RPSNet": ("RPSNet(num_classes=3, image_size=64, width=8)", ImageTransform(64), 3),
    "TransferNet lite0": ("TransferNet(3, hidden=32, base='efficientnet_lite0')",
                          ImageTransform(224), 3),
    "TransferNet inception": ("TransferNet(2, hidden=32, dropout=0.2, base='inception_v3')",
                              INCEPTION_75, 2),
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] * ("inception"
                                                                                in name))
                                  for name in ROUND_TRIPS])
def test_every_architecture_saves_and_reloads_to_the_same_network(name, tmp_path, photo_path):
    """Same configuration, weights, class names and preprocessing; same answers, in eval mode."""
    from helpers import models, transfer

    build, transform, classes = ROUND_TRIPS[name]
    torch.manual_seed(0)
    model = eval(build, {**vars(models), **vars(transfer)}).eval()
    names = [f"class {i}" for i in range(classes)]
    reloaded, reloaded_names, reloaded_transform = load_model(
        save_model(tmp_path / "model.pt", model, names, transform))
    assert type(reloaded) is type(model) and not reloaded.training
    assert getattr(reloaded, "config", {}) == getattr(model, "config", {})
    assert reloaded_names == names and reloaded_transform == transform
    images = torch.randn(2, transform.channels, transform.size, transform.size)
    with torch.no_grad():
        assert torch.equal(reloaded(images), model(images))
    assert (helpers.predict_image(reloaded, photo_path, names, transform)
            == helpers.predict_image(model, photo_path, names, transform))


def test_the_fashion_mnist_models_need_a_grey_transform():
    """They take one grey channel: ImageTransform(channels=1) greys the photo first."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"cannot take the 28 x 28 RGB images .*channels"):
        save_model("unused.pt", FashionCNN().eval(), [str(i) for i in range(10)],
                   ImageTransform(28))
    with pytest.raises(ValueError, match="channels must be 3 .colour. or 1 .grey., not 2"):
        ImageTransform(28, channels=2)
    with pytest.raises(ValueError, match="one std for each of the 1 channels"):
        ImageTransform(28, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channels=1)
    picture = Image.fromarray(np.full((40, 30, 3), (200, 30, 30), np.uint8))
    assert GREY_28(picture).shape == (1, 28, 28)


def test_saved_file_holds_no_pickled_code(tmp_path, model):
    path = save_model(tmp_path / "hoh.pt", model, CLASSES, ImageTransform(150))
    torch.load(path, weights_only=True)  # would raise if anything but plain data were inside


def test_bad_model_files_give_clear_errors(tmp_path, model):
    good = save_model(tmp_path / "hoh.pt", model, CLASSES, ImageTransform(150))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100_000])
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    for path, message in ((truncated, "not a readable saved model"),
                          (text, "not a readable saved model"),
                          (plain, "not written by helpers.save_model")):
        with pytest.raises(ValueError, match=message):
            load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


def test_weights_of_another_architecture_are_refused(tmp_path, model):
    path = save_model(tmp_path / "hoh.pt", model, CLASSES, ImageTransform(150))
    saved = torch.load(path, weights_only=True)
    saved["state_dict"] = FashionCNN().state_dict()
    torch.save(saved, path)
    with pytest.raises(ValueError, match="do not fit a HorsesHumansCNN"):
        load_model(path)


# --- awkward photos: phones, big cameras, arrays ------------------------------------------

def _png_claiming(width: int, height: int, payload: int) -> bytes:
    """A PNG header claiming width x height, then ``payload`` bytes of (unread) pixel data."""
    idat = b"IDAT" + bytes(payload)
    return (_png_header_claiming(width, height) + struct.pack(">I", payload) + idat
            + struct.pack(">I", zlib.crc32(idat)))


def test_a_heic_photo_is_named_with_how_to_convert_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as on a machine without the plugin
    Image.init()  # every plugin registered now, so none is added to the list patched below
    monkeypatch.setattr(Image, "ID", [kind for kind in Image.ID if kind != "HEIF"])
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)
    with pytest.raises(ImageError, match=r"IMG_0042\.HEIC is a HEIC/HEIF photo") as caught:
        open_image(heic, name="IMG_0042.HEIC")
    assert "Convert it to JPEG" in str(caught.value) and "pillow-heif" in str(caught.value)


def test_a_heic_photo_is_decoded_when_pillow_heif_is_installed(photo):
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(photo.resize((64, 48))).save(buffer, quality=90)
    assert buffer.getvalue()[4:12] == b"ftypheic"
    picture = open_image(buffer.getvalue(), name="phone.heic")
    assert picture.mode == "RGB" and picture.size == (64, 48)


@pytest.mark.parametrize("width, height, megapixels", [(12000, 9000, "108"), (8000, 8000, "64"),
                                                       (16320, 15320, "250")])
def test_a_big_real_photo_gets_advice_to_resize_not_bomb(width, height, megapixels):
    data = _png_claiming(width, height, payload=width * height // 100)  # a plausible file size
    with pytest.raises(ImageError, match=f"{megapixels} megapixels") as caught:
        open_image(data, name="phone.png")
    message = str(caught.value)
    assert message.startswith("phone.png") and "Resize it below 60 megapixels" in message
    assert "bomb" not in message


@pytest.mark.parametrize("width, height", [(20000, 20000), (100_000, 100_000)])
def test_only_an_implausible_header_is_called_a_bomb(width, height):
    with pytest.raises(ImageError, match="absurd number of pixels.*decompression bomb"):
        open_image(_png_claiming(width, height, payload=100), name="tiny.png")


def test_sixteen_bit_transparency_key_is_honoured(photo):
    grey = np.asarray(photo.convert("L").resize((60, 40))).astype(np.uint16) * 257
    key = int(grey[0, 0])
    data = encode(Image.fromarray(grey), "PNG", transparency=key)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    pixels = np.asarray(open_image(data))[..., 0].astype(int)
    keyed = grey == key
    assert (pixels[keyed] == 255).all()
    assert np.abs(pixels[~keyed] - grey[~keyed] // 257).max() <= 1
    assert pixels[~keyed].std() > 10  # a picture, not a white page


@pytest.mark.parametrize("value, message", [
    (np.zeros((8, 8, 3), np.uint8), "not a numpy.ndarray.*fromarray"),
    (torch.zeros(3, 8, 8), "not a torch.Tensor.*to_pil_image"),
    (10**10, "not a int"),  # never bytes(10**10): 10 GB of zeros
    (None, "not a NoneType"),
])
def test_arrays_tensors_and_other_objects_are_refused_plainly(value, message):
    with pytest.raises(ImageError, match=message):
        open_image(value)


def test_a_damaged_header_is_an_image_error_naming_the_file(tmp_path, photo):
    path = tmp_path / "cut.webp"
    path.write_bytes(encode(photo, "WEBP")[:40])
    with pytest.raises(ImageError, match=str(path)):
        open_image(path)


def test_a_nan_model_output_is_refused_not_given_as_probabilities(photo_path):
    broken = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                 torch.nn.Linear(3, 3))
    with torch.no_grad():
        broken[2].bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="not a number"):
        helpers.predict_image(broken, photo_path, ["a", "b", "c"], ImageTransform(32))


# --- what save_model refuses and load_model explains -------------------------------------

def test_numpy_class_names_and_numbers_are_saved_as_plain_data(tmp_path, model):
    transform = ImageTransform(np.int64(150), mean=np.array([0.5, 0.5, 0.5]),
                               std=torch.tensor([0.5, 0.5, 0.5]))
    path = save_model(tmp_path / "hoh.pt", model, np.array(CLASSES), transform)
    _, names, reloaded = load_model(path)
    assert names == CLASSES and all(type(name) is str for name in names)
    assert reloaded == ImageTransform(150) and type(reloaded.size) is int
    assert all(type(v) is float for v in reloaded.mean + reloaded.std)


@pytest.mark.parametrize("names, transform, message", [
    (["horses", "humans", "zebras"], ImageTransform(150), "one output .* 3 class names"),
    ("horses", ImageTransform(150), "not one string"),
    ([0, 1], ImageTransform(150), "list of strings"),
    (CLASSES, ImageTransform(128), "cannot take the 128 x 128"),
    (CLASSES, lambda picture: picture, "needs a helpers.ImageTransform"),
])
def test_save_model_refuses_what_does_not_fit(tmp_path, model, names, transform, message):
    with pytest.raises(ValueError, match=message):
        save_model(tmp_path / "bad.pt", model, names, transform)
    assert not (tmp_path / "bad.pt").exists()


def test_save_model_checks_a_many_class_model_against_its_names(tmp_path):
    from helpers.models import RPSNet

    with pytest.raises(ValueError, match="3 outputs but 2 class names"):
        save_model(tmp_path / "rps.pt", RPSNet(image_size=64, width=4), ["rock", "paper"],
                   ImageTransform(64))


def _edited(tmp_path, model, edit) -> str:
    path = save_model(tmp_path / "hoh.pt", model, CLASSES, ImageTransform(150))
    saved = torch.load(path, weights_only=True)
    edit(saved)
    torch.save(saved, path)
    with pytest.raises(ValueError) as caught:
        load_model(path)
    return str(caught.value)


def test_load_model_names_the_weight_and_both_shapes(tmp_path, model):
    def shrink(saved):
        saved["state_dict"]["classifier.4.weight"] = torch.zeros(2, 512)
    message = _edited(tmp_path, model, shrink)
    assert "do not fit a HorsesHumansCNN(dropout=0.25)" in message
    assert "'classifier.4.weight' is [2, 512] in the file but the model needs [1, 512]" in message


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["config"].update(colour="blue"), "colour='blue'.*takes only: dropout"),
    (lambda s: s.pop("config"), "'config' entry should be a dict but holds nothing"),
    (lambda s: s["state_dict"].pop("features.0.bias"), "no tensor 'features.0.bias'"),
    (lambda s: s["state_dict"].update(extra=torch.zeros(1)), "holds 'extra'"),
    (lambda s: s.update(class_names=["horses", "humans", "zebras"]), "one output .* 3 class"),
    (lambda s: s["transform"].update(size=-5), "size must be a whole number"),
])
def test_load_model_says_what_does_not_fit(tmp_path, model, edit, message):
    assert __import__("re").search(message, _edited(tmp_path, model, edit))


def test_load_model_checks_an_absurd_configuration_before_building(tmp_path):
    from helpers.models import RPSNet

    path = save_model(tmp_path / "rps.pt", RPSNet(image_size=64, width=4),
                      ["paper", "rock", "scissors"], ImageTransform(64))
    saved = torch.load(path, weights_only=True)
    saved["config"].update(width=10**6, num_classes=10**9)  # terabytes, if it were built
    torch.save(saved, path)
    with pytest.raises(ValueError, match=r"do not fit a RPSNet\(num_classes=1000000000"):
        load_model(path)


def test_load_model_accepts_string_configuration_values(tmp_path, monkeypatch):
    from helpers import saving

    class Based(torch.nn.Module):
        def __init__(self, base: str = "small", num_classes: int = 2) -> None:
            super().__init__()
            self.config = {"base": base, "num_classes": num_classes}
            self.layers = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1),
                                              torch.nn.Flatten(), torch.nn.Linear(3, num_classes))

        def forward(self, x):
            return self.layers(x)

    monkeypatch.setitem(saving.ARCHITECTURES, "Based", Based)
    path = save_model(tmp_path / "based.pt", Based("tiny", 3), list("abc"), ImageTransform(32))
    reloaded, names, _ = load_model(path)
    assert reloaded.config == {"base": "tiny", "num_classes": 3} and names == list("abc")


@pytest.mark.parametrize("device, missing", [("cuda", "no CUDA GPU"), ("mps", "no Apple MPS")])
def test_loading_onto_a_device_that_is_not_there_says_what_to_use(tmp_path, model, monkeypatch,
                                                                  device, missing):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a laptop
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    path = save_model(tmp_path / "hoh.pt", model, CLASSES, ImageTransform(150))
    with pytest.raises(ValueError, match=f"device='{device}'.*{missing}.*Use device='cpu'"):
        load_model(path, device=device)
