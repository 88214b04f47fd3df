namespace Sunaiva.Api.Tests;

/// <summary>Committed contract files, and the switch that rewrites them instead of failing.</summary>
public static class RepositoryFiles
{
    public const string UpdateSwitch = "SUNAIVA_UPDATE_API_DOCS";

    public const string RegenerateCommand = "SUNAIVA_UPDATE_API_DOCS=1 dotnet test tests/Sunaiva.Api.Tests (or eng/api-docs.sh)";

    public static bool Updating => Environment.GetEnvironmentVariable(UpdateSwitch) is "1" or "true";

    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>
    /// Compares generated text with the committed file; with the switch set, writes the file instead.
    /// Returns null when they match (or were written), else a message saying how to regenerate.
    /// </summary>
    public static string? CompareOrUpdate(string relative, string generated)
    {
        var path = PathOf(relative);
        var committed = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : null;
        if (committed == generated)
        {
            return null;
        }

        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, generated);
            return null;
        }

        var firstDifference = FirstDifferentLine(committed ?? string.Empty, generated);
        return committed is null
            ? $"{relative} is not committed yet. Generate it with: {RegenerateCommand}"
            : $"{relative} differs from what the code generates ({firstDifference}). If the API change is intended, regenerate and commit: {RegenerateCommand}";
    }

    private static string FirstDifferentLine(string committed, string generated)
    {
        var a = committed.Split('\n');
        var b = generated.Split('\n');
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var left = i < a.Length ? a[i] : "<end>";
            var right = i < b.Length ? b[i] : "<end>";
            if (left != right)
            {
                return $"line {i + 1}: committed `{left.Trim()}`, generated `{right.Trim()}`";
            }
        }

        return "same lines";
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Sunaiva.sln not found above " + AppContext.BaseDirectory);
    }
}
