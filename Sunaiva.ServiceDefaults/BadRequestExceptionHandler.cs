using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Sunaiva.ServiceDefaults;

/// <summary>
/// A body that cannot be read (malformed JSON, wrong types, too large) is the client's fault: answer its own
/// 4xx as ProblemDetails instead of the 500 the generic handler would give. The detail names the problem,
/// never the body's content.
/// </summary>
internal sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        var status = bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : StatusCodes.Status400BadRequest;
        httpContext.Response.StatusCode = status;
        var binding = bad.Message.StartsWith("Failed to bind parameter", StringComparison.Ordinal) || bad.Message.StartsWith("Required parameter", StringComparison.Ordinal);
        var details = new ProblemDetails
        {
            Status = status,
            Title = status == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : binding ? "Invalid request" : "Invalid request body",
            Detail = bad switch
            {
                { InnerException: JsonException json } => $"The body is not valid JSON for this endpoint{(json.Path is { Length: > 1 } path ? $" (at {path})" : string.Empty)}.",
                _ when bad.Message.Contains("no body was provided", StringComparison.Ordinal) => "A JSON body is required.",
                _ when binding => BindingDetail(bad.Message),
                _ => "The request could not be read.",
            },
        };
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = details, Exception = exception });
    }

    /// <summary>
    /// Which value could not be bound, from ASP.NET Core's message (<c>Failed to bind parameter "DateTimeOffset from" from
    /// "..."</c>, <c>Required parameter "string q" was not provided from query string.</c>): the parameter's name and type
    /// come from the endpoint's code, the value the client sent is not repeated.
    /// </summary>
    internal static string BindingDetail(string message)
    {
        var match = BindingMessage().Match(message);
        if (!match.Success)
        {
            return "A query or route value has the wrong type or is missing.";
        }

        var name = match.Groups["name"].Value;
        return match.Groups["kind"].Value == "Required"
            ? $"'{name}' is required."
            : $"'{name}' is not {Expected(Underlying(match.Groups["type"].Value))}.";
    }

    /// <summary>The type without its nullability, named either way (<c>Nullable&lt;DateTimeOffset&gt;</c>, <c>int?</c>).</summary>
    private static string Underlying(string type) =>
        type.StartsWith("Nullable<", StringComparison.Ordinal) && type.EndsWith('>') ? type["Nullable<".Length..^1] : type.TrimEnd('?');

    private static string Expected(string type) => type switch
    {
        "DateTimeOffset" or "DateTime" => "a date and time (ISO 8601, e.g. 2026-01-31 or 2026-01-31T09:00:00Z)",
        "DateOnly" => "a date (ISO 8601, e.g. 2026-01-31)",
        "Int32" or "Int64" or "Int16" or "int" or "long" or "short" => "a whole number",
        "Decimal" or "Double" or "Single" or "decimal" or "double" or "float" => "a number",
        "Boolean" or "bool" => "true or false",
        "Guid" => "a UUID",
        _ => $"a valid {type}",
    };

    [System.Text.RegularExpressions.GeneratedRegex("""^(?<kind>Failed to bind|Required) parameter "(?<type>[^"]*) (?<name>[^" ]+)" """, System.Text.RegularExpressions.RegexOptions.ExplicitCapture)]
    private static partial System.Text.RegularExpressions.Regex BindingMessage();
}
