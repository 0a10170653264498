"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = document.getElementById("token").value.trim();
  const purpose = document.getElementById("purpose").value.trim();
  const deployment = document.getElementById("deployment").value.trim();
  /* "required" lets a field of spaces through: refuse it here, before anything is sent */
  if (!token) { CL.showError("Paste your API token: the one crimelens users add printed for you."); return; }
  if (!purpose) { CL.showError("Say why you are signing in: the purpose is recorded with every action."); return; }
  CL.clearError();
  CL.save({token, purpose, deployment: deployment || null});
  try {
    const me = await CL.api("/api/me");
    CL.save({token, purpose, deployment: deployment || null, role: me.role, user: me.user});  // pages hide what the role cannot use
    location.href = "/forecast";
  } catch (e) {
    CL.clear();
    CL.showError("Sign-in refused: " + e.message);
  }
});
