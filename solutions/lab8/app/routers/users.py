"""/signup: a new user, and a welcome email after the answer."""

from fastapi import APIRouter, BackgroundTasks, status

from app.models.users import SignedUp, SignUp
from app.services import users

router = APIRouter(tags=["users"])


@router.post("/signup", status_code=status.HTTP_201_CREATED)
async def signup(new: SignUp, background: BackgroundTasks) -> SignedUp:
    user_id = users.sign_up(new.email, new.password)
    background.add_task(users.send_welcome_email, user_id)
    return SignedUp(user_id=user_id)
