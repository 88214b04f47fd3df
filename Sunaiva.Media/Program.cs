using Sunaiva.Media;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMediaServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapMediaApi();

await app.RunAsync();

/// <summary>Entry point, visible to the tests' web application factory.</summary>
public partial class Program;
