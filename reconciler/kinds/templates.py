"""Event templates: text, attribute and file elements, and the tags events created from them get."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.model.fields import AsSet, Ordered


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TextElement(Strict):
    name: str
    text: str = ""


class AttributeElement(Strict):
    name: str
    category: str
    type: str
    description: str = ""
    mandatory: bool = False
    batch: bool = False
    to_ids: bool = False


class FileElement(Strict):
    name: str
    category: str
    description: str = ""
    malware: bool = False
    mandatory: bool = False
    batch: bool = False


class Element(Strict):
    """Exactly one of text, attribute, file."""

    text: TextElement | None = None
    attribute: AttributeElement | None = None
    file: FileElement | None = None

    @model_validator(mode="after")
    def _one(self) -> Element:
        if sum(x is not None for x in (self.text, self.attribute, self.file)) != 1:
            raise ValueError("an element is exactly one of text, attribute or file")
        return self


class Template(Entry):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    share: bool = False
    tags: Annotated[list[str], AsSet()] = []
    elements: Annotated[list[Element], Ordered()] = []


KIND = Kind(name="templates", model=Template, key=lambda e: e.name, refs={"tags": "tags"})
