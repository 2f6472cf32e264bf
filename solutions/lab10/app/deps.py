"""What routes receive through dependency injection, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings, get_settings
from app.draining import Draining


def get_draining(request: Request) -> Draining:
    return request.state.draining


SettingsDep = Annotated[Settings, Depends(get_settings)]
DrainingDep = Annotated[Draining, Depends(get_draining)]
