using Sunaiva.Engagement;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddEngagementServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapEngagementApi();

await app.RunAsync();

/// <summary>Entry point, visible to the tests' web application factory.</summary>
public partial class Program;
