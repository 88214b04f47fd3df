using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace Sunaiva.Api.Tests;

/// <summary>
/// Reads the error statuses a handler can return from its source: <c>statusCode: N</c> and <c>StatusCodes.StatusN</c>
/// in its body and, recursively, in the helpers it calls (same class, or <c>OtherClass.Method(</c> in the repository).
/// </summary>
public sealed partial class SourceScan
{
    private readonly Dictionary<string, List<string>> _classFiles = new(StringComparer.Ordinal);

    public SourceScan(IEnumerable<string> folders)
    {
        foreach (var file in folders.SelectMany(f => Directory.EnumerateFiles(RepositoryFiles.PathOf(f), "*.cs", SearchOption.AllDirectories))
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            foreach (Match m in ClassDeclaration().Matches(text))
            {
                if (!_classFiles.TryGetValue(m.Groups[1].Value, out var list))
                {
                    _classFiles[m.Groups[1].Value] = list = [];
                }

                list.Add(text);
            }
        }
    }

    /// <summary>Null when the handler is a lambda or its source is not found (nothing to scan).</summary>
    public IReadOnlySet<int>? StatusesOf(MethodInfo handler)
    {
        if (handler.IsDefined(typeof(CompilerGeneratedAttribute)) || handler.Name.Contains('<', StringComparison.Ordinal) || handler.DeclaringType is null)
        {
            return null;
        }

        var type = handler.DeclaringType;
        while (type.IsDefined(typeof(CompilerGeneratedAttribute)) && type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        if (!_classFiles.ContainsKey(type.Name))
        {
            return null;
        }

        var statuses = new HashSet<int>();
        Collect(type.Name, handler.Name, statuses, new HashSet<string>(StringComparer.Ordinal), depth: 0);
        return statuses;
    }

    private void Collect(string className, string method, HashSet<int> statuses, HashSet<string> seen, int depth)
    {
        if (depth > 5 || !seen.Add($"{className}.{method}") || !_classFiles.TryGetValue(className, out var files))
        {
            return;
        }

        foreach (var body in files.SelectMany(text => Bodies(text, method)))
        {
            foreach (Match m in StatusLiteral().Matches(body))
            {
                var code = int.Parse(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (code >= 400)
                {
                    statuses.Add(code);
                }
            }

            foreach (Match m in QualifiedCall().Matches(body))
            {
                Collect(m.Groups[1].Value, m.Groups[2].Value, statuses, seen, depth + 1);
            }

            foreach (Match m in LocalCall().Matches(body))
            {
                Collect(className, m.Groups[1].Value, statuses, seen, depth + 1);
            }
        }
    }

    /// <summary>The text of each method declared with this name: an expression body up to its semicolon, or a block.</summary>
    private static IEnumerable<string> Bodies(string text, string method)
    {
        foreach (Match declaration in new Regex(@"(?m)^\s*(?:(?:public|private|internal|protected|static|async|override)\s+)+[^=;\n]*?\b" + Regex.Escape(method) + @"\s*(?:<[^>]*>)?\(").Matches(text))
        {
            var i = declaration.Index + declaration.Length;
            var depth = 1;
            while (i < text.Length && depth > 0)
            {
                depth += text[i] switch { '(' => 1, ')' => -1, _ => 0 };
                i++;
            }

            var rest = text[i..];
            var arrow = rest.IndexOf("=>", StringComparison.Ordinal);
            var brace = rest.IndexOf('{', StringComparison.Ordinal);
            var semicolon = rest.IndexOf(';', StringComparison.Ordinal);
            if (arrow >= 0 && (brace < 0 || arrow < brace) && (semicolon < 0 || arrow < semicolon))
            {
                yield return Until(rest, arrow, ';');
            }
            else if (brace >= 0 && (semicolon < 0 || brace < semicolon))
            {
                yield return Until(rest, brace, '}');
            }
        }
    }

    /// <summary>From <paramref name="start"/> to the <paramref name="end"/> character at nesting depth zero.</summary>
    private static string Until(string text, int start, char end)
    {
        var depth = 0;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '{' or '(' or '[')
            {
                depth++;
            }
            else if (c is '}' or ')' or ']')
            {
                depth--;
            }

            if (c == end && depth <= 0)
            {
                return text[start..(i + 1)];
            }
        }

        return text[start..];
    }

    [GeneratedRegex(@"\b(?:class|record|struct)\s+([A-Z]\w*)")]
    private static partial Regex ClassDeclaration();

    [GeneratedRegex(@"statusCode:\s*(\d{3})\b|StatusCodes\.Status(\d{3})")]
    private static partial Regex StatusLiteral();

    [GeneratedRegex(@"\b([A-Z]\w*)\.([A-Z]\w*)\s*\(")]
    private static partial Regex QualifiedCall();

    [GeneratedRegex(@"(?<![\.\w])([A-Z]\w*)\s*\(")]
    private static partial Regex LocalCall();
}
