"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = document.getElementById("token").value.trim();
  const purpose = document.getElementById("purpose").value.trim();
  const deployment = document.getElementById("deployment").value.trim();
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
