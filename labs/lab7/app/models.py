"""What clients send and receive."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl, StringConstraints


class JobRequest(BaseModel):
    kind: Literal["report"]
    payload: dict[str, Any] = {}
    callback_url: HttpUrl | None = None
    """Where the job is POSTed, signed, once it has ended."""


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["queued"]


class JobStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None
    error: str | None


class PaymentRequest(BaseModel):
    amount: int = Field(gt=0, description="In the currency's smallest unit (cents)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Payment(PaymentRequest):
    payment_id: str


class Payments(BaseModel):
    count: int
    payments: list[Payment]
