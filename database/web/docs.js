// The API docs page: Swagger UI from the vendored copy, configured here rather than in an inline
// script so that the Content-Security-Policy can forbid inline scripts everywhere.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null, // the default validator is an outside service
  presets: [SwaggerUIBundle.presets.apis],
});
