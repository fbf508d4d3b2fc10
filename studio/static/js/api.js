// Talking to the studio server: JSON in, JSON out; a failure is the server's one-line message.

export class ApiError extends Error {}

const UNREACHABLE = "The studio server does not answer; is `mlxmed studio` still running?";

async function call(url, options) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError(UNREACHABLE);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    if (response.status === 403) {
      throw new ApiError("The server refused this page: open the link that `mlxmed studio` printed.");
    }
    throw new ApiError(`The server answered ${response.status}.`);
  }
  if (!response.ok) throw new ApiError(data && data.error ? data.error : `The server answered ${response.status}.`);
  return data;
}

export function get(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return call(url, {});
}

export function post(path, body = {}) {
  return call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}
