using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.Media.Files;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Media.Search;

public static class SearchApi
{
    public static RouteGroupBuilder MapSearchApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/search").RequireAuthorization().WithTags("Files");
        group.MapGet("/", SearchAsync).ProducesProblems(StatusCodes.Status400BadRequest)
            .WithSummary("Search the names and texts of the caller's files (ranked, with highlighted snippets)")
            .WithDescription("q: words, \"a phrase\", -excluded (beside a word), or part of a name (typos tolerated); one or two letters match the beginnings of words. Filters: type (content type), source (upload|drive), from/to (created, ISO 8601). Page with limit (1-50) and offset (the nextOffset of the previous page).");
        return group;
    }

    private static async Task<Results<Ok<SearchPage>, ProblemHttpResult>> SearchAsync(
        HttpContext http, FileSearch search, CancellationToken ct,
        string? q = null, string? type = null, string? source = null, DateTimeOffset? from = null, DateTimeOffset? to = null, int limit = 20, int offset = 0)
    {
        if (Validate(q, type, source, limit, offset) is { } problem)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid search", detail: problem);
        }

        return TypedResults.Ok(await search.SearchAsync(http.User.UserId(), new SearchQuery(q!.Trim(), type, source, from, to, limit, offset), ct));
    }

    /// <summary>Why a search is invalid, or null.</summary>
    public static string? Validate(string? q, string? type, string? source, int limit, int offset) =>
        string.IsNullOrWhiteSpace(q) || q.Length > 200 ? "q is 1 to 200 characters."
        : type is not null && !FileTypes.Accepted.Contains(type) ? "type is one of the accepted content types."
        : source is not null and not ("upload" or "drive") ? "source is upload or drive."
        : limit is < 1 or > 50 ? "limit is between 1 and 50."
        : offset is < 0 or > 10_000 ? "offset is between 0 and 10000."
        : null;
}
