"""Sign in (or why not): the only page of the app for a visitor who may use nothing (auth.gate_page)."""
import streamlit as st

import auth


def render() -> None:
    st.title("Storeboard")
    exp = auth.exposure()
    if not exp.serves:
        st.error(exp.message, icon=":material/gpp_bad:")
        return
    if not auth.signed_in():
        st.write("Sales, margins and customer data are confidential: sign in with your company account.")
        auth.sign_in_buttons()
        return
    st.error(auth.no_access_message(), icon=":material/block:")
    if st.button("Sign out", icon=":material/logout:", key="logout_refused"):
        st.logout()


render()
