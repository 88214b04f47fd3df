using System.Collections.Concurrent;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;
using Fluid;
using Fluid.Values;
using Microsoft.Extensions.FileProviders;

namespace Sunaiva.Engagement.Email.Templates;

/// <summary>A message rendered from one template: both parts come from the same source.</summary>
public sealed record RenderedEmail(string Template, string Language, string Subject, string Preheader, string Html, string Text);

/// <summary>Links a rendered message needs: click tracking, open pixel, unsubscribe and preferences.</summary>
public interface IEmailLinks
{
    /// <summary>The URL a reader follows to reach <paramref name="target"/> (a signed click-redirect when tracked).</summary>
    string Click(string target);

    string? OpenPixel { get; }

    string? Unsubscribe { get; }

    string? Preferences { get; }
}

/// <summary>
/// Renders the Liquid templates under <c>EmailTemplates/</c> (Fluid): <c>{name}/{lang}.liquid</c> defines the subject and
/// preheader (captures) and the body; the body is rendered twice from that one source, HTML-encoded into the table layout
/// <c>_layouts/base.html.liquid</c> and unencoded into <c>_layouts/base.txt.liquid</c>. Partials live in <c>_partials/</c>
/// and receive <c>format</c> ("html" or "text"). A language without its own file falls back to English.
/// </summary>
public sealed partial class EmailTemplateEngine
{
    public const string DefaultLanguage = "en";

    private static readonly FluidParser Parser = new();
    private readonly string _root;
    private readonly TemplateOptions _options;
    private readonly ConcurrentDictionary<string, IFluidTemplate?> _cache = new(StringComparer.Ordinal);

    public EmailTemplateEngine()
        : this(Path.Combine(AppContext.BaseDirectory, "EmailTemplates"))
    {
    }

    public EmailTemplateEngine(string root)
    {
        _root = root;
        _options = new TemplateOptions { FileProvider = new PhysicalFileProvider(Path.Combine(root, "_partials")) };
        _options.MemberAccessStrategy = new UnsafeMemberAccessStrategy();
        _options.Filters.AddFilter("track", static (input, _, context) =>
        {
            var target = input.ToStringValue();
            var links = context.AmbientValues.TryGetValue("links", out var l) ? l as IEmailLinks : null;
            return new ValueTask<FluidValue>(new StringValue(links is null || string.IsNullOrEmpty(target) ? target : links.Click(target)));
        });
    }

    /// <summary>Template names (folders that are not layouts or partials).</summary>
    public IReadOnlyList<string> Names =>
        Directory.Exists(_root)
            ? Directory.EnumerateDirectories(_root).Select(Path.GetFileName).Where(n => n is not null && !n.StartsWith('_')).Select(n => n!).Order(StringComparer.Ordinal).ToList()
            : [];

    public bool Exists(string name) => IsSafeName(name) && File.Exists(Path.Combine(_root, name, DefaultLanguage + ".liquid"));

    /// <summary>The language whose file renders <paramref name="name"/> for a user speaking <paramref name="language"/> ("pt-BR" uses "pt").</summary>
    public string ResolveLanguage(string name, string? language)
    {
        var lang = (language ?? DefaultLanguage).Split('-', '_')[0].ToLowerInvariant();
        return IsSafeName(lang) && File.Exists(Path.Combine(_root, name, lang + ".liquid")) ? lang : DefaultLanguage;
    }

    public async Task<RenderedEmail> RenderAsync(string name, string? language, IReadOnlyDictionary<string, object?> model, IEmailLinks? links, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!Exists(name))
        {
            throw new InvalidOperationException($"Email template '{name}' does not exist.");
        }

        var lang = ResolveLanguage(name, language);
        var source = Load(Path.Combine(name, lang + ".liquid"))!;

        var (textBody, captures) = await RenderPartAsync(source, model, links, "text", NullEncoder.Default);
        var (htmlBody, _) = await RenderPartAsync(source, model, links, "html", HtmlEncoder.Default);
        var subject = HeaderSafe(captures.GetValueOrDefault("subject"));
        var preheader = HeaderSafe(captures.GetValueOrDefault("preheader"));

        var layoutModel = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["lang"] = lang,
            ["subject"] = subject,
            ["preheader"] = preheader,
            ["open_pixel_url"] = links?.OpenPixel,
            ["unsubscribe_url"] = links?.Unsubscribe,
            ["preferences_url"] = links?.Preferences,
        };
        var html = await RenderLayoutAsync("base.html.liquid", layoutModel, Paragraphs(htmlBody), HtmlEncoder.Default);
        var text = await RenderLayoutAsync("base.txt.liquid", layoutModel, TidyText(textBody), NullEncoder.Default);
        return new RenderedEmail(name, lang, subject, preheader, html, TidyText(text));
    }

    /// <summary>Renders a web page under <c>_pages/</c> (the unsubscribe confirmation), HTML-encoded.</summary>
    public async Task<string> RenderPageAsync(string page, IReadOnlyDictionary<string, object?> model, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var template = Load(Path.Combine("_pages", page + ".liquid")) ?? throw new InvalidOperationException($"Page template '{page}' is missing.");
        var (output, _) = await RenderPartAsync(template, model, null, "html", HtmlEncoder.Default);
        return output;
    }

    private async Task<(string Output, Dictionary<string, string> Captures)> RenderPartAsync(IFluidTemplate template, IReadOnlyDictionary<string, object?> model, IEmailLinks? links, string format, TextEncoder encoder)
    {
        var captures = new Dictionary<string, string>(StringComparer.Ordinal);
        var context = new TemplateContext(_options)
        {
            Captured = (identifier, value, _) =>
            {
                captures[identifier] = value.ToStringValue();
                return new ValueTask<FluidValue>(value);
            },
        };
        foreach (var (key, value) in model)
        {
            context.SetValue(key, FluidValue.Create(value, _options));
        }

        context.SetValue("format", new StringValue(format));
        if (links is not null)
        {
            context.AmbientValues["links"] = links;
        }

        return (await template.RenderAsync(context, encoder), captures);
    }

    private async Task<string> RenderLayoutAsync(string layout, Dictionary<string, object?> model, string content, TextEncoder encoder)
    {
        var template = Load(Path.Combine("_layouts", layout)) ?? throw new InvalidOperationException($"Email layout '{layout}' is missing.");
        var context = new TemplateContext(_options);
        foreach (var (key, value) in model)
        {
            context.SetValue(key, FluidValue.Create(value, _options));
        }

        // Already encoded by the body's own pass: inserted as is.
        context.SetValue("content", new StringValue(content, encode: false));
        return await template.RenderAsync(context, encoder);
    }

    private IFluidTemplate? Load(string relative) =>
        _cache.GetOrAdd(relative, r =>
        {
            var path = Path.Combine(_root, r);
            if (!File.Exists(path))
            {
                return null;
            }

            return Parser.TryParse(File.ReadAllText(path, Encoding.UTF8), out var template, out var error)
                ? template
                : throw new InvalidOperationException($"Email template {r} does not parse: {error}");
        });

    /// <summary>Blank-line separated blocks become styled paragraphs; blocks that are markup (partials) stay as they are.</summary>
    private static string Paragraphs(string html)
    {
        var builder = new StringBuilder();
        foreach (var block in BlankLines().Split(html.Replace("\r\n", "\n", StringComparison.Ordinal)))
        {
            var trimmed = block.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }

            builder.Append(trimmed.StartsWith('<')
                ? trimmed
                : $"<p style=\"margin:0 0 16px 0;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#1f2933;\">{trimmed.Replace("\n", "<br>", StringComparison.Ordinal)}</p>");
            builder.Append('\n');
        }

        return builder.ToString();
    }

    private static string TidyText(string text) =>
        ManyBlankLines().Replace(string.Join('\n', text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd())), "\n\n").Trim() + "\n";

    /// <summary>A header value can carry no line break or control character, whatever the user's data held.</summary>
    public static string HeaderSafe(string? value) =>
        string.Join(' ', (value ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(part => new string(part.Where(c => !char.IsControl(c)).ToArray()))).Trim();

    private static bool IsSafeName(string name) => name.Length is > 0 and <= 64 && SafeName().IsMatch(name);

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex BlankLines();

    [GeneratedRegex(@"\n{3,}")]
    private static partial Regex ManyBlankLines();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex SafeName();
}
