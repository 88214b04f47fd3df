namespace Sunaiva.AppHost.Infrastructure;

/// <summary>Full paths of the executables local mode runs, or one clear line naming what to install.</summary>
internal sealed record LocalTools(string RedisServer, string PostgresBin, string S3rver, string Maildev)
{
    public static LocalTools Locate()
    {
        var redis = Find("redis-server") ?? throw Missing("redis-server", "the Debian package redis-server");
        var initdb = Find("initdb") is { } onPath
            ? Path.GetDirectoryName(ResolveLink(onPath))!
            : FindPostgresBin() ?? throw Missing("initdb/postgres", "the Debian package postgresql");
        _ = Find("setpriv") ?? throw Missing("setpriv", "the Debian package util-linux");
        var s3rver = Find("s3rver") ?? throw Missing("s3rver", "the npm package s3rver (npm install -g s3rver@3.7.1)");
        var maildev = Find("maildev") ?? throw Missing("maildev", "the npm package maildev (npm install -g maildev@3.0.0)");
        return new LocalTools(redis, initdb, s3rver, maildev);
    }

    private static MissingToolException Missing(string tool, string package) =>
        new($"Local mode needs {tool}, which is not installed: install {package}, or run eng/run.sh which installs everything.");

    private static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string ResolveLink(string path) =>
        new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;

    private static string? FindPostgresBin()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.EnumerateDirectories(root)
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "postgres")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }
}
