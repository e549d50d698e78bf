"""HTTP and Socket.IO: who is asking and may they (request, auth, clients), the JSON API and its OpenAPI
document, the core pages, the socket layer (realtime) and the language of a request."""
