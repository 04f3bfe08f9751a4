// The gallery's API key and its GraphQL requests. The key is kept in sessionStorage only: this tab, until it is
// closed or the user signs out; never localStorage (it would outlive the tab) and never a cookie (the browser would
// send it on its own). Every /graphql request carries it as `Authorization: Bearer`; files need no header, they
// load through the signed URLs the API returns.

const STORAGE_NAME = "rareforge.apiKey";

/** The service refused the key (HTTP 401 or an UNAUTHENTICATED error): unknown, malformed, revoked or expired. */
export class KeyRefusedError extends Error {
  constructor(key) {
    super("This API key was refused: it is unknown, revoked or expired. Sign in with a valid key.");
    this.name = "KeyRefusedError";
    this.key = key;
  }
}

export const storedKey = () => sessionStorage.getItem(STORAGE_NAME);
export const keepKey = (key) => sessionStorage.setItem(STORAGE_NAME, key);
export const forgetKey = () => sessionStorage.removeItem(STORAGE_NAME);

const isRefusal = (status, errors) => status === 401 || (errors ?? []).some((e) => e.extensions?.code === "UNAUTHENTICATED");

/** POST /graphql as `key`: the data, or the errors' messages thrown (KeyRefusedError when the key is refused). */
export async function graphqlAs(key, query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 200)}` }] };
  }
  if (isRefusal(response.status, body.errors)) throw new KeyRefusedError(key);
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join("\n"));
  return body.data;
}

/** Who `key` is (`me`): its label (the key's prefix), role and domain scopes. */
export async function whoIs(key) {
  return (await graphqlAs(key, `query { me { keyId label role scopes } }`)).me;
}
