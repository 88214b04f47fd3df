using System.ComponentModel;
using ModelContextProtocol.Server;
using Sunaiva.Media.Files;
using Sunaiva.Media.Search;
using Sunaiva.ServiceDefaults.Mcp;

namespace Sunaiva.Media.Mcp;

/// <summary>A file as an agent sees it.</summary>
public sealed record FileSummary(string Id, string Name, string ContentType, long SizeBytes, string Source, string TextStatus, DateTime CreatedAt);

/// <summary>A range of a file's extracted text; <c>NextOffset</c> continues it, null at the end.</summary>
public sealed record FileText(string FileId, string Name, int Offset, string Text, int TotalChars, int? NextOffset, bool TruncatedAtExtraction);

/// <summary>
/// Media's MCP tools for AI agents, always scoped to the bearer token's user: another user's file is "not found".
/// read_file returns a bounded range so agents fetch only what they need.
/// </summary>
[McpServerToolType]
public sealed class FileTools(McpCaller caller, FileSearch search, FileVault vault)
{
    public const int MaxReadChars = 20_000;

    [McpServerTool(Name = "search_files", ReadOnly = true), Description("Search the names and texts of the user's files. Returns ranked hits with snippets (matches between **).")]
    public async Task<SearchPage> SearchFilesAsync(
        [Description("Words, \"a phrase\", -excluded (beside a word), or part of a file name (three letters or more; one or two letters match the beginnings of words)")] string query,
        [Description("Only files of this content type, e.g. application/pdf")] string? type = null,
        [Description("Hits per page, 1-50")] int limit = 10,
        [Description("nextOffset of the previous page")] int offset = 0,
        CancellationToken cancellationToken = default)
    {
        if (SearchApi.Validate(query, type, null, limit, offset) is { } problem)
        {
            throw new McpToolException(problem);
        }

        return await search.SearchAsync(caller.UserId, new SearchQuery(query.Trim(), type, null, null, null, limit, offset), cancellationToken);
    }

    [McpServerTool(Name = "read_file", ReadOnly = true), Description("Read part of a file's extracted text: length characters from offset (at most 20000). Use nextOffset to continue.")]
    public async Task<FileText> ReadFileAsync(
        [Description("The file id (from search_files or list_recent_files)")] string fileId,
        [Description("Character offset to start at")] int offset = 0,
        [Description("Characters to read, 1-20000")] int length = 4000,
        CancellationToken cancellationToken = default)
    {
        if (offset < 0 || length is < 1 or > MaxReadChars)
        {
            throw new McpToolException($"offset is 0 or more; length is between 1 and {MaxReadChars}.");
        }

        var userId = caller.UserId;
        var file = await vault.GetAsync(userId, fileId, cancellationToken) ?? throw new McpToolException("File not found.");
        var slice = await vault.ReadTextAsync(userId, fileId, offset, length, cancellationToken);
        if (slice is null)
        {
            throw new McpToolException(file.TextStatus switch
            {
                "pending" => "The file's text is still being extracted; try again shortly.",
                "awaiting_transcription" => "This audio file has no transcript yet.",
                "failed" => "The file's text could not be extracted.",
                _ => "The file has no text.",
            });
        }

        await vault.RecordAccessAsync(userId, fileId, "mcp.read_file", $"chars={offset}-{offset + slice.Text.Length}", cancellationToken);
        var end = offset + slice.Text.Length;
        return new FileText(fileId, file.Name, offset, slice.Text, slice.Total, end < slice.Total ? end : null, slice.Truncated);
    }

    [McpServerTool(Name = "list_recent_files", ReadOnly = true), Description("The user's most recent files, newest first.")]
    public async Task<IReadOnlyList<FileSummary>> ListRecentFilesAsync(
        [Description("How many, 1-50")] int limit = 20,
        CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > 50)
        {
            throw new McpToolException("limit is between 1 and 50.");
        }

        var files = await vault.ListAsync(caller.UserId, limit, null, cancellationToken);
        return files.Select(f => new FileSummary(f.Id, f.Name, f.ContentType, f.SizeBytes, f.Source, f.TextStatus, f.CreatedAt)).ToList();
    }
}
